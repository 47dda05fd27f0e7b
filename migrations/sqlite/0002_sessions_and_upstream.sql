-- Browser sessions, OAuth 2.0 sessions, personal sessions, compat SSO logins and upstream OAuth
-- providers/links. Same tables and columns as migrations/postgres/0002_sessions_and_upstream.sql.
-- Every token is stored as its SHA-256 digest only.

CREATE TABLE user_sessions (
    user_session_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    user_agent TEXT,
    last_active_at BIGINT,
    last_active_ip TEXT
);
CREATE INDEX user_sessions_user_id ON user_sessions (user_id, user_session_id);

CREATE TABLE oauth2_sessions (
    oauth2_session_id TEXT PRIMARY KEY,
    oauth2_client_id TEXT NOT NULL REFERENCES oauth2_clients (oauth2_client_id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users (user_id) ON DELETE CASCADE,
    user_session_id TEXT REFERENCES user_sessions (user_session_id) ON DELETE SET NULL,
    -- Space-separated scope tokens.
    scope_list TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    last_active_at BIGINT,
    last_active_ip TEXT,
    user_agent TEXT,
    human_name TEXT
);
CREATE INDEX oauth2_sessions_user_id ON oauth2_sessions (user_id, oauth2_session_id);
CREATE INDEX oauth2_sessions_client_id ON oauth2_sessions (oauth2_client_id, oauth2_session_id);

CREATE TABLE oauth2_access_tokens (
    oauth2_access_token_id TEXT PRIMARY KEY,
    oauth2_session_id TEXT NOT NULL REFERENCES oauth2_sessions (oauth2_session_id) ON DELETE CASCADE,
    access_token_sha256 BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    first_used_at BIGINT,
    CONSTRAINT oauth2_access_tokens_sha256_unique UNIQUE (access_token_sha256)
);
CREATE INDEX oauth2_access_tokens_session ON oauth2_access_tokens (oauth2_session_id);

CREATE TABLE oauth2_refresh_tokens (
    oauth2_refresh_token_id TEXT PRIMARY KEY,
    oauth2_session_id TEXT NOT NULL REFERENCES oauth2_sessions (oauth2_session_id) ON DELETE CASCADE,
    oauth2_access_token_id TEXT REFERENCES oauth2_access_tokens (oauth2_access_token_id) ON DELETE SET NULL,
    refresh_token_sha256 BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    consumed_at BIGINT,
    revoked_at BIGINT,
    next_oauth2_refresh_token_id TEXT REFERENCES oauth2_refresh_tokens (oauth2_refresh_token_id) ON DELETE SET NULL,
    CONSTRAINT oauth2_refresh_tokens_sha256_unique UNIQUE (refresh_token_sha256)
);
CREATE INDEX oauth2_refresh_tokens_session ON oauth2_refresh_tokens (oauth2_session_id);

-- Personal sessions: long-lived tokens an admin or a user makes for scripts (`mpt_`).
CREATE TABLE personal_sessions (
    personal_session_id TEXT PRIMARY KEY,
    owner_user_id TEXT REFERENCES users (user_id) ON DELETE CASCADE,
    owner_oauth2_client_id TEXT REFERENCES oauth2_clients (oauth2_client_id) ON DELETE CASCADE,
    actor_user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    human_name TEXT NOT NULL,
    scope_list TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_active_at BIGINT,
    last_active_ip TEXT
);
CREATE INDEX personal_sessions_actor ON personal_sessions (actor_user_id, personal_session_id);

CREATE TABLE personal_access_tokens (
    personal_access_token_id TEXT PRIMARY KEY,
    personal_session_id TEXT NOT NULL REFERENCES personal_sessions (personal_session_id) ON DELETE CASCADE,
    access_token_sha256 BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    CONSTRAINT personal_access_tokens_sha256_unique UNIQUE (access_token_sha256)
);
CREATE INDEX personal_access_tokens_session ON personal_access_tokens (personal_session_id);

-- Compat SSO: /login/sso/redirect creates a row; the login page fulfils it with a session;
-- /login with m.login.token exchanges it (once, within 30 s of fulfilment).
CREATE TABLE compat_sso_logins (
    compat_sso_login_id TEXT PRIMARY KEY,
    redirect_uri TEXT NOT NULL,
    login_token_sha256 BLOB NOT NULL,
    compat_session_id TEXT REFERENCES compat_sessions (compat_session_id) ON DELETE CASCADE,
    user_session_id TEXT REFERENCES user_sessions (user_session_id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    fulfilled_at BIGINT,
    exchanged_at BIGINT,
    CONSTRAINT compat_sso_logins_token_unique UNIQUE (login_token_sha256)
);

-- Upstream OAuth 2.0 / OIDC providers, synced from `upstream_oauth2.providers`. The columns an
-- admin filters on are columns; the rest of the provider's configuration is JSON in `config`.
CREATE TABLE upstream_oauth_providers (
    upstream_oauth_provider_id TEXT PRIMARY KEY,
    issuer TEXT,
    human_name TEXT,
    brand_name TEXT,
    synapse_idp_id TEXT,
    client_id TEXT NOT NULL,
    encrypted_client_secret TEXT,
    token_endpoint_auth_method TEXT NOT NULL,
    scope TEXT NOT NULL,
    ui_order INTEGER NOT NULL DEFAULT 0,
    config TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);

CREATE TABLE upstream_oauth_links (
    upstream_oauth_link_id TEXT PRIMARY KEY,
    upstream_oauth_provider_id TEXT NOT NULL REFERENCES upstream_oauth_providers (upstream_oauth_provider_id) ON DELETE CASCADE,
    -- NULL while a login through the provider has not been linked to a user yet.
    user_id TEXT REFERENCES users (user_id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    human_account_name TEXT,
    created_at BIGINT NOT NULL,
    CONSTRAINT upstream_oauth_links_subject_unique UNIQUE (upstream_oauth_provider_id, subject)
);
CREATE INDEX upstream_oauth_links_user_id ON upstream_oauth_links (user_id);

-- OAuth 2.0 grants: authorization-code requests (`/authorize`), remembered consent and device
-- authorizations (RFC 8628). Same tables and columns as migrations/sqlite/0010_oauth2_grants.sql.
-- Codes are stored as SHA-256 digests only; user codes (short-lived, typed by people) as they are.
-- The sessions and tokens these grants start live in oauth2_sessions, oauth2_access_tokens and
-- oauth2_refresh_tokens (0002).

CREATE TABLE oauth2_authorization_grants (
    oauth2_authorization_grant_id TEXT PRIMARY KEY,
    oauth2_client_id TEXT NOT NULL REFERENCES oauth2_clients (oauth2_client_id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT,
    nonce TEXT,
    response_mode TEXT NOT NULL,
    response_type_id_token INTEGER NOT NULL DEFAULT 0,
    code_challenge TEXT,
    code_challenge_method TEXT,
    -- Set when the user approves (the code is made then).
    authorization_code_sha256 BYTEA,
    login_hint TEXT,
    prompt TEXT,
    max_age BIGINT,
    created_at BIGINT NOT NULL,
    fulfilled_at BIGINT,
    exchanged_at BIGINT,
    cancelled_at BIGINT,
    user_id TEXT REFERENCES users (user_id) ON DELETE CASCADE,
    user_session_id TEXT REFERENCES user_sessions (user_session_id) ON DELETE SET NULL,
    oauth2_session_id TEXT REFERENCES oauth2_sessions (oauth2_session_id) ON DELETE SET NULL,
    CONSTRAINT oauth2_authorization_grants_code_unique UNIQUE (authorization_code_sha256)
);
CREATE INDEX oauth2_authorization_grants_created_at ON oauth2_authorization_grants (created_at);

-- One row per consented scope token (device scopes are never remembered): a later request whose
-- scopes are all here skips the consent page.
CREATE TABLE oauth2_consents (
    oauth2_consent_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    oauth2_client_id TEXT NOT NULL REFERENCES oauth2_clients (oauth2_client_id) ON DELETE CASCADE,
    scope_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT oauth2_consents_unique UNIQUE (user_id, oauth2_client_id, scope_token)
);

CREATE TABLE oauth2_device_code_grants (
    oauth2_device_code_grant_id TEXT PRIMARY KEY,
    oauth2_client_id TEXT NOT NULL REFERENCES oauth2_clients (oauth2_client_id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    device_code_sha256 BYTEA NOT NULL,
    user_code TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_polled_at BIGINT,
    -- Seconds the device must wait between polls (RFC 8628 §3.5: grows on slow_down).
    poll_interval INTEGER NOT NULL DEFAULT 5,
    fulfilled_at BIGINT,
    rejected_at BIGINT,
    exchanged_at BIGINT,
    user_id TEXT REFERENCES users (user_id) ON DELETE CASCADE,
    user_session_id TEXT REFERENCES user_sessions (user_session_id) ON DELETE SET NULL,
    oauth2_session_id TEXT REFERENCES oauth2_sessions (oauth2_session_id) ON DELETE SET NULL,
    ip_address TEXT,
    user_agent TEXT,
    CONSTRAINT oauth2_device_code_grants_device_code_unique UNIQUE (device_code_sha256),
    CONSTRAINT oauth2_device_code_grants_user_code_unique UNIQUE (user_code)
);
CREATE INDEX oauth2_device_code_grants_created_at ON oauth2_device_code_grants (created_at);


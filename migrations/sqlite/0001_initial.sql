-- Gatehouse initial schema. Same tables and columns as migrations/postgres/0001_initial.sql.
-- Portable types (see DESIGN.md): ids are ULID strings, timestamps are unix milliseconds
-- (BIGINT), booleans are INTEGER 0/1, token hashes are SHA-256 digests (BLOB/BYTEA).
-- Table and column names follow MAS where the concept is the same.

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    locked_at BIGINT,
    deactivated_at BIGINT,
    can_request_admin INTEGER NOT NULL DEFAULT 0,
    is_guest INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT users_username_unique UNIQUE (username)
);

CREATE TABLE user_passwords (
    user_password_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    hashed_password TEXT NOT NULL,
    version INTEGER NOT NULL,
    upgraded_from_id TEXT REFERENCES user_passwords (user_password_id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX user_passwords_user_id ON user_passwords (user_id, user_password_id);

CREATE TABLE user_emails (
    user_email_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX user_emails_user_id ON user_emails (user_id);
CREATE INDEX user_emails_lower_email ON user_emails (lower(email));

CREATE TABLE user_unsupported_third_party_ids (
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    medium TEXT NOT NULL,
    address TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, medium, address)
);

CREATE TABLE compat_sessions (
    compat_session_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    device_id TEXT,
    human_name TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    is_synapse_admin INTEGER NOT NULL DEFAULT 0,
    last_active_at BIGINT,
    last_active_ip TEXT,
    user_agent TEXT,
    user_session_id TEXT
);
CREATE INDEX compat_sessions_user_id ON compat_sessions (user_id, compat_session_id);
CREATE INDEX compat_sessions_device_id ON compat_sessions (device_id);

CREATE TABLE compat_access_tokens (
    compat_access_token_id TEXT PRIMARY KEY,
    compat_session_id TEXT NOT NULL REFERENCES compat_sessions (compat_session_id) ON DELETE CASCADE,
    access_token_sha256 BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    CONSTRAINT compat_access_tokens_sha256_unique UNIQUE (access_token_sha256)
);
CREATE INDEX compat_access_tokens_session ON compat_access_tokens (compat_session_id);

CREATE TABLE compat_refresh_tokens (
    compat_refresh_token_id TEXT PRIMARY KEY,
    compat_session_id TEXT NOT NULL REFERENCES compat_sessions (compat_session_id) ON DELETE CASCADE,
    compat_access_token_id TEXT NOT NULL REFERENCES compat_access_tokens (compat_access_token_id) ON DELETE CASCADE,
    refresh_token_sha256 BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    consumed_at BIGINT,
    CONSTRAINT compat_refresh_tokens_sha256_unique UNIQUE (refresh_token_sha256)
);
CREATE INDEX compat_refresh_tokens_session ON compat_refresh_tokens (compat_session_id);
CREATE INDEX compat_refresh_tokens_access_token ON compat_refresh_tokens (compat_access_token_id);

CREATE TABLE user_registration_tokens (
    user_registration_token_id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    usage_limit INTEGER,
    times_used INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at BIGINT,
    revoked_at BIGINT,
    CONSTRAINT user_registration_tokens_token_unique UNIQUE (token)
);

CREATE TABLE oauth2_clients (
    oauth2_client_id TEXT PRIMARY KEY,
    is_static INTEGER NOT NULL DEFAULT 0,
    encrypted_client_secret TEXT,
    token_endpoint_auth_method TEXT,
    jwks TEXT,
    jwks_uri TEXT,
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    client_name TEXT,
    client_uri TEXT,
    grant_type_authorization_code INTEGER NOT NULL DEFAULT 0,
    grant_type_refresh_token INTEGER NOT NULL DEFAULT 0,
    grant_type_client_credentials INTEGER NOT NULL DEFAULT 0,
    grant_type_device_code INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Durable job queue. A worker claims an available job whose scheduled_at has passed by setting
-- status 'running' and a lease (locked_until); a lease that runs out makes the job claimable again.
CREATE TABLE queue_jobs (
    queue_job_id TEXT PRIMARY KEY,
    queue_name TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    scheduled_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    locked_by TEXT,
    locked_until BIGINT,
    last_error TEXT
);
CREATE INDEX queue_jobs_ready ON queue_jobs (status, scheduled_at);

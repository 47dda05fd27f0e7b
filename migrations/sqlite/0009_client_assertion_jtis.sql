-- The `jti` of every client assertion (RFC 7523 §3, `client_secret_jwt` and `private_key_jwt`)
-- accepted, until the assertion expires: a second use of the same `jti` is a replay. Same on both
-- backends. Housekeeping deletes rows past `expires_at`.

CREATE TABLE oauth2_client_assertion_jtis (
    client_id TEXT NOT NULL REFERENCES oauth2_clients (oauth2_client_id) ON DELETE CASCADE,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);

CREATE INDEX oauth2_client_assertion_jtis_expires_at ON oauth2_client_assertion_jtis (expires_at);

-- Policy data set through the admin API (`POST /api/admin/v1/policy-data`): each row is a JSON
-- object merged over `policy.data` from the configuration; the newest row (highest ULID) is in
-- force. Rows are never updated, so the history stays. Same on both backends.

CREATE TABLE policy_data (
    policy_data_id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    data TEXT NOT NULL
);

-- A compatibility session's `redirect_uri` (admin API) is read from the SSO login it came from.
CREATE INDEX compat_sso_logins_compat_session_id ON compat_sso_logins (compat_session_id);

-- Refresh-token replay detection (RFC 9700 §4.14.2). Same on both backends.
-- `first_used_at`: when a compat access token was first used (recorded for expiring tokens, the
-- ones that come with a refresh token). `next_compat_refresh_token_id`: the refresh token that
-- replaced this one when it was consumed. A consumed refresh token presented again after its
-- successor (or the successor's access token) was used ends the session.

ALTER TABLE compat_access_tokens ADD COLUMN first_used_at BIGINT;
ALTER TABLE compat_refresh_tokens ADD COLUMN next_compat_refresh_token_id TEXT;

-- The job worker deletes compat SSO logins nobody can complete or exchange any more.
CREATE INDEX compat_sso_logins_created_at ON compat_sso_logins (created_at);

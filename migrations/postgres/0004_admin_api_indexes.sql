-- Indexes for the admin API's list filters (same as migrations/sqlite/0004_admin_api_indexes.sql).
-- Lists page by primary key; a rare state (admin, guest, locked, deactivated) gets a partial
-- index on the key so that filtering on it reads only the matching rows, at any table size.

CREATE INDEX users_admins ON users (user_id) WHERE can_request_admin = 1;
CREATE INDEX users_guests ON users (user_id) WHERE is_guest = 1;
CREATE INDEX users_locked ON users (user_id) WHERE locked_at IS NOT NULL;
CREATE INDEX users_deactivated ON users (user_id) WHERE deactivated_at IS NOT NULL;
CREATE INDEX compat_sessions_active ON compat_sessions (user_id, compat_session_id) WHERE finished_at IS NULL;
CREATE INDEX personal_sessions_owner ON personal_sessions (owner_user_id, personal_session_id);
CREATE INDEX user_emails_user_id_key ON user_emails (user_id, user_email_id);

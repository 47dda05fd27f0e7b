-- Two indexes no query needs (same as the other backend's 0006_drop_redundant_indexes.sql):
-- `user_emails_user_id` is a prefix of `user_emails_user_id_key` (user_id, user_email_id), which
-- serves every lookup and cascade by user; no query looks compat sessions up by `device_id`
-- alone (a device is found among its user's active sessions). Each costs every insert, and a
-- large migration a full index build.

DROP INDEX user_emails_user_id;
DROP INDEX compat_sessions_device_id;

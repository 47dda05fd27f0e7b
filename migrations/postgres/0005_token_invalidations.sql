-- Changes that end or narrow access tokens (logouts, retired tokens, locked or deactivated
-- users), so that every process sharing this database drops its cached answers about them.
-- `subject_id` is a token, session or user ULID. Rows are deleted after an hour.

CREATE TABLE token_invalidations (
    token_invalidation_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX token_invalidations_created_at ON token_invalidations (created_at);

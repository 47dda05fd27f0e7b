//! sqlx storage over SQLite and PostgreSQL.

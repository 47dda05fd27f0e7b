//! The importer's bulk sink: writes `gatehouse-importer` records into Gatehouse's tables, fast,
//! in ONE transaction, so that a crash or kill leaves nothing behind and a rerun starts clean.
//!
//! The one place with backend-specific SQL (DESIGN.md allows it where it buys real speed):
//! PostgreSQL gets `COPY … FROM STDIN` (binary format) on a native connection; SQLite gets
//! multi-row `INSERT`s of 100 rows per statement on a native connection. Both drop the
//! tables' secondary indexes (PostgreSQL: also keys and foreign keys) for the load and rebuild
//! them before the commit. Tokens are stored as SHA-256 digests only, like every other token.

use std::str::FromStr;

use gatehouse_importer::{
    AccessTokenRecord, CompatSessionRecord, EmailRecord, RefreshTokenRecord, Sink,
    UnsupportedThreepidRecord, UpstreamLinkRecord, UserRecord,
};
use sqlx::{
    Connection, PgConnection, QueryBuilder, Sqlite, SqliteConnection, sqlite::SqliteConnectOptions,
};
use ulid::Ulid;

use super::{Backend, StoreError};

/// The tables a migration writes; all must be empty before it starts.
pub const MIGRATION_TABLES: [&str; 8] = [
    "users",
    "user_passwords",
    "user_emails",
    "user_unsupported_third_party_ids",
    "upstream_oauth_links",
    "compat_sessions",
    "compat_access_tokens",
    "compat_refresh_tokens",
];

/// Test hook: abort the process (as a kill would) after this many batches.
const ABORT_ENV: &str = "GATEHOUSE_TEST_SYN2MAS_ABORT_AFTER_BATCHES";

/// Bytes of COPY data per message on PostgreSQL.
const COPY_CHUNK: usize = 128 * 1024;

/// Rows per INSERT statement on SQLite (measured sweet spot with sqlx).
const SQLITE_ROWS_PER_STATEMENT: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the Gatehouse database is not empty ({0}); migrate into a freshly created database")]
    NotEmpty(String),
}

impl From<StoreError> for BulkError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Database(e) => Self::Database(e),
            other => Self::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

/// One value of a row, the same for both backends. Binary COPY needs the exact column type:
/// `Int` is a BIGINT, `Int4` an INTEGER.
enum Cell<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
    Int4(i32),
    Id(Ulid),
    Digest([u8; 32]),
}

enum Target {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// The sink, holding its open transaction.
pub struct BulkSink {
    target: Target,
    /// SQL that recreates what was dropped for the load (inside the same transaction, so a
    /// crash restores it too): on PostgreSQL keys, secondary indexes and foreign keys; on
    /// SQLite the secondary indexes.
    restore: Vec<String>,
    /// Reused COPY buffer.
    buffer: Vec<u8>,
    batches: u64,
    abort_after: Option<u64>,
    /// PostgreSQL: the tables were truncated in this transaction, so COPY may use `FREEZE`.
    freeze: bool,
}

fn digest(token: &str) -> [u8; 32] {
    crate::crypto::sha256(token)
}

impl BulkSink {
    /// Connect to `url` (the same database the store uses), begin the transaction and make
    /// sure every table the migration writes is empty.
    pub async fn begin(url: &str) -> Result<Self, BulkError> {
        let target = match Backend::from_url(url)? {
            Backend::Postgres => {
                let mut conn = PgConnection::connect(url).await?;
                gatehouse_importer::net::set_tcp_nodelay(&mut conn).await?;
                sqlx::raw_sql("BEGIN").execute(&mut conn).await?;
                Target::Postgres(conn)
            }
            Backend::Sqlite => {
                // A bounded 64 MiB page cache (the default is 2 MiB) keeps the index pages of a
                // large load in memory instead of spilling them into the WAL mid-transaction.
                let options = SqliteConnectOptions::from_str(url)?
                    .foreign_keys(true)
                    .busy_timeout(std::time::Duration::from_secs(10))
                    .pragma("cache_size", "-65536");
                let mut conn = SqliteConnection::connect_with(&options).await?;
                sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut conn).await?;
                Target::Sqlite(conn)
            }
        };
        let mut sink = Self {
            target,
            restore: Vec::new(),
            buffer: Vec::with_capacity(1 << 20),
            batches: 0,
            freeze: false,
            abort_after: std::env::var(ABORT_ENV).ok().and_then(|v| v.parse().ok()),
        };
        let busy = sink.non_empty_tables().await?;
        if !busy.is_empty() {
            let list: Vec<String> = busy
                .iter()
                .map(|(table, count)| format!("{table}: {count} rows"))
                .collect();
            return Err(BulkError::NotEmpty(list.join(", ")));
        }
        sink.drop_constraints().await?;
        Ok(sink)
    }

    /// PostgreSQL checks a foreign key per inserted row and updates every index per row;
    /// dropping the constraints and indexes of the (empty) tables and building them once at the
    /// end is several times faster (MAS's tool does the same). That includes foreign keys of
    /// other tables pointing at these, which depend on their primary keys. Everything happens
    /// inside the one transaction, so a crash rolls the drops back too.
    async fn drop_constraints(&mut self) -> Result<(), BulkError> {
        let conn = match &mut self.target {
            Target::Postgres(conn) => conn,
            Target::Sqlite(conn) => {
                // SQLite: the secondary indexes (primary and unique keys are part of the
                // tables and stay). Filling an index once from a sorted scan beats updating it
                // at random for every row; SQLite's DDL is transactional like PostgreSQL's.
                let indexes: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT name, sql FROM sqlite_master
                     WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({})
                     ORDER BY name",
                    MIGRATION_TABLES.map(|t| format!("'{t}'")).join(", ")
                )))
                .fetch_all(&mut *conn)
                .await?;
                for (name, _) in &indexes {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
                        .execute(&mut *conn)
                        .await?;
                }
                self.restore.extend(indexes.into_iter().map(|(_, sql)| sql));
                return Ok(());
            }
        };
        let tables: Vec<String> = MIGRATION_TABLES.iter().map(|t| (*t).to_owned()).collect();
        // (table, name, definition); foreign keys last so they are dropped first.
        let constraints: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype::text
             FROM pg_constraint c
             WHERE (c.contype IN ('p', 'u') AND c.conrelid::regclass::text = ANY($1))
                OR (c.contype = 'f' AND (c.conrelid::regclass::text = ANY($1)
                                         OR c.confrelid::regclass::text = ANY($1)))
             ORDER BY c.contype = 'f', c.conname",
        )
        .bind(&tables)
        .fetch_all(&mut *conn)
        .await?;
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i
             WHERE i.schemaname = current_schema() AND i.tablename = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                               WHERE c.conname = i.indexname AND c.contype IN ('p', 'u'))",
        )
        .bind(&tables)
        .fetch_all(&mut *conn)
        .await?;
        for (table, name, _, _) in constraints.iter().rev() {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} DROP CONSTRAINT {name}"
            )))
            .execute(&mut *conn)
            .await?;
        }
        for (name, _) in &indexes {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
                .execute(&mut *conn)
                .await?;
        }
        // The tables are empty (checked); truncating them in this transaction gives them new
        // storage, which lets COPY write frozen rows (`FREEZE`): the key rebuilds then do not
        // dirty every page again to set hint bits, and with `wal_level = minimal` nothing is
        // WAL-logged at all. A rollback or crash restores the old (empty) storage.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "TRUNCATE {}",
            MIGRATION_TABLES.join(", ")
        )))
        .execute(&mut *conn)
        .await?;
        self.freeze = true;
        // Rebuild: primary and unique keys, then plain indexes, then foreign keys.
        self.restore
            .extend(
                constraints
                    .iter()
                    .filter(|c| c.3 != "f")
                    .map(|(table, name, def, _)| {
                        format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}")
                    }),
            );
        self.restore.extend(indexes.into_iter().map(|(_, def)| def));
        // Re-adding a foreign key checks every row with one anti-join of the two tables. With
        // their indexes just built (and the rows frozen, so index-only scans), a merge join
        // of the two indexes measured two to three times cheaper than the hash join the
        // planner picks for tables it has no statistics on. The setting ends with the
        // transaction.
        self.restore
            .push("SET LOCAL enable_hashjoin = off".to_owned());
        self.restore
            .extend(
                constraints
                    .iter()
                    .filter(|c| c.3 == "f")
                    .map(|(table, name, def, _)| {
                        format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}")
                    }),
            );
        Ok(())
    }

    /// Rebuild what [`Self::drop_constraints`] dropped; re-adding a foreign key validates
    /// every row, so a dry run checks the same constraints a real run does. [`Self::commit`]
    /// and [`Self::rollback`] do it when it was not done yet; calling it first lets the
    /// caller time the rebuild on its own.
    pub async fn restore_constraints(&mut self) -> Result<(), BulkError> {
        if let Target::Postgres(conn) = &mut self.target {
            if !self.restore.is_empty() {
                // Sorting for a key build in memory instead of in temporary files.
                sqlx::raw_sql("SET LOCAL maintenance_work_mem = '256MB'")
                    .execute(&mut *conn)
                    .await?;
            }
            for sql in std::mem::take(&mut self.restore) {
                tracing::debug!("rebuilding: {sql}");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *conn)
                    .await?;
            }
        }
        if let Target::Sqlite(conn) = &mut self.target {
            for sql in std::mem::take(&mut self.restore) {
                tracing::debug!("rebuilding: {sql}");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }

    async fn non_empty_tables(&mut self) -> Result<Vec<(String, i64)>, BulkError> {
        let mut busy = Vec::new();
        for table in MIGRATION_TABLES {
            let sql = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"));
            let count: i64 = match &mut self.target {
                Target::Postgres(conn) => sqlx::query_scalar(sql).fetch_one(conn).await?,
                Target::Sqlite(conn) => sqlx::query_scalar(sql).fetch_one(conn).await?,
            };
            if count > 0 {
                busy.push((table.to_owned(), count));
            }
        }
        Ok(busy)
    }

    /// Make sure the providers links point at exist, inside this transaction (a dry run does
    /// not sync providers for real). Placeholders only: they are rolled back with the rest.
    pub async fn ensure_providers(&mut self, ids: &[Ulid]) -> Result<(), BulkError> {
        for id in ids {
            let sql = "INSERT INTO upstream_oauth_providers
                (upstream_oauth_provider_id, client_id, token_endpoint_auth_method, scope, created_at)
                VALUES ($1, 'syn2mas-dry-run', 'none', 'openid', 0)
                ON CONFLICT (upstream_oauth_provider_id) DO NOTHING";
            match &mut self.target {
                Target::Postgres(conn) => {
                    sqlx::query(sql).bind(id.to_string()).execute(conn).await?;
                }
                Target::Sqlite(conn) => {
                    sqlx::query(sql).bind(id.to_string()).execute(conn).await?;
                }
            }
        }
        Ok(())
    }

    /// Make the migration durable.
    pub async fn commit(mut self) -> Result<(), BulkError> {
        self.restore_constraints().await?;
        match self.target {
            Target::Postgres(mut conn) => {
                sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
                conn.close().await?;
            }
            Target::Sqlite(mut conn) => {
                sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
                conn.close().await?;
            }
        }
        Ok(())
    }

    /// Throw everything away (dry run), after rebuilding the keys, indexes and foreign keys,
    /// so that a dry run checks what a real run checks.
    pub async fn rollback(mut self) -> Result<(), BulkError> {
        self.restore_constraints().await?;
        match self.target {
            Target::Postgres(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await?;
                conn.close().await?;
            }
            Target::Sqlite(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await?;
                conn.close().await?;
            }
        }
        Ok(())
    }

    fn count_batch(&mut self) {
        self.batches += 1;
        if self.abort_after.is_some_and(|n| self.batches > n) {
            eprintln!("{ABORT_ENV}: aborting after {} batches", self.batches - 1);
            std::process::abort();
        }
    }

    async fn write<'r, const N: usize>(
        &mut self,
        table: &str,
        columns: [&str; N],
        rows: Vec<[Cell<'r>; N]>,
    ) -> Result<(), BulkError> {
        if rows.is_empty() {
            return Ok(());
        }
        match &mut self.target {
            Target::Postgres(conn) => {
                // Binary: the server converts no text (numbers, escapes, hex bytea), which
                // measured a quarter to a third cheaper than the text format for these tables.
                let sql = format!(
                    "COPY {table} ({}) FROM STDIN WITH (FORMAT binary{})",
                    columns.join(", "),
                    if self.freeze { ", FREEZE" } else { "" }
                );
                // Rows are sent as they are encoded, in chunks: the server parses and stores
                // one chunk while the next is encoded, instead of idling until the batch is
                // whole.
                let mut copy = conn.copy_in_raw(&sql).await?;
                let buffer = &mut self.buffer;
                buffer.clear();
                buffer.extend_from_slice(COPY_BINARY_HEADER);
                // Fits: N is a handful of columns.
                let fields = (N as i16).to_be_bytes();
                for row in rows {
                    buffer.extend_from_slice(&fields);
                    for cell in &row {
                        copy_binary(buffer, cell)?;
                    }
                    if buffer.len() >= COPY_CHUNK {
                        copy.send(buffer.as_slice()).await?;
                        buffer.clear();
                    }
                }
                buffer.extend_from_slice(&(-1i16).to_be_bytes());
                copy.send(buffer.as_slice()).await?;
                copy.finish().await?;
            }
            Target::Sqlite(conn) => {
                let mut rows = rows.into_iter().peekable();
                while rows.peek().is_some() {
                    let mut query: QueryBuilder<Sqlite> =
                        QueryBuilder::new(format!("INSERT INTO {table} ({}) ", columns.join(", ")));
                    query.push_values(
                        rows.by_ref().take(SQLITE_ROWS_PER_STATEMENT),
                        |mut values, row| {
                            for cell in row {
                                match cell {
                                    Cell::Text(text) => values.push_bind(text.to_owned()),
                                    Cell::OptText(text) => {
                                        values.push_bind(text.map(str::to_owned))
                                    }
                                    Cell::Int(value) => values.push_bind(value),
                                    Cell::OptInt(value) => values.push_bind(value),
                                    Cell::Int4(value) => values.push_bind(value),
                                    Cell::Id(id) => values.push_bind(id.to_string()),
                                    Cell::Digest(bytes) => values.push_bind(bytes.to_vec()),
                                };
                            }
                        },
                    );
                    query.build().execute(&mut *conn).await?;
                }
            }
        }
        Ok(())
    }
}

/// The binary COPY signature, flags (none) and header extension length (none).
const COPY_BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Append one field in COPY's binary format: its length (-1 for NULL), then the value in the
/// type's binary representation (text and bytea as is, integers big-endian).
fn copy_binary(out: &mut Vec<u8>, cell: &Cell<'_>) -> Result<(), BulkError> {
    fn bytes(out: &mut Vec<u8>, value: &[u8]) -> Result<(), BulkError> {
        let len = i32::try_from(value.len()).map_err(|_| {
            BulkError::Database(sqlx::Error::Protocol(format!(
                "a value of {} bytes is too long for PostgreSQL",
                value.len()
            )))
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(value);
        Ok(())
    }
    match cell {
        Cell::Text(value) | Cell::OptText(Some(value)) => bytes(out, value.as_bytes()),
        Cell::OptText(None) | Cell::OptInt(None) => {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            Ok(())
        }
        Cell::Int(value) | Cell::OptInt(Some(value)) => bytes(out, &value.to_be_bytes()),
        Cell::Int4(value) => bytes(out, &value.to_be_bytes()),
        Cell::Id(id) => {
            let mut buf = [0u8; ulid::ULID_LEN];
            bytes(out, id.array_to_str(&mut buf).as_bytes())
        }
        Cell::Digest(digest) => bytes(out, digest),
    }
}

impl Sink for BulkSink {
    type Error = BulkError;

    async fn write_users(&mut self, batch: &[UserRecord]) -> Result<(), BulkError> {
        self.count_batch();
        self.write(
            "users",
            [
                "user_id",
                "username",
                "created_at",
                "locked_at",
                "deactivated_at",
                "can_request_admin",
                "is_guest",
            ],
            batch
                .iter()
                .map(|u| {
                    [
                        Cell::Id(u.id),
                        Cell::Text(&u.localpart),
                        Cell::Int(u.created_at_ms),
                        Cell::OptInt(u.locked_at_ms),
                        Cell::OptInt(u.deactivated_at_ms),
                        Cell::Int4(i32::from(u.admin)),
                        Cell::Int4(i32::from(u.is_guest)),
                    ]
                })
                .collect(),
        )
        .await?;
        let with_password: Vec<&UserRecord> =
            batch.iter().filter(|u| u.password.is_some()).collect();
        self.write(
            "user_passwords",
            [
                "user_password_id",
                "user_id",
                "hashed_password",
                "version",
                "created_at",
            ],
            with_password
                .iter()
                .filter_map(|u| {
                    let password = u.password.as_ref()?;
                    Some([
                        Cell::Id(password.id),
                        Cell::Id(u.id),
                        Cell::Text(&password.hash),
                        // Synapse's bcrypt hashes are scheme version 1 (checked by `syn2mas check`).
                        Cell::Int4(1),
                        Cell::Int(u.created_at_ms),
                    ])
                })
                .collect(),
        )
        .await
    }

    async fn write_emails(&mut self, batch: &[EmailRecord]) -> Result<(), BulkError> {
        self.count_batch();
        self.write(
            "user_emails",
            ["user_email_id", "user_id", "email", "created_at"],
            batch
                .iter()
                .map(|e| {
                    [
                        Cell::Id(e.id),
                        Cell::Id(e.user_id),
                        Cell::Text(&e.address),
                        Cell::Int(e.created_at_ms),
                    ]
                })
                .collect(),
        )
        .await
    }

    async fn write_unsupported_threepids(
        &mut self,
        batch: &[UnsupportedThreepidRecord],
    ) -> Result<(), BulkError> {
        self.count_batch();
        self.write(
            "user_unsupported_third_party_ids",
            ["user_id", "medium", "address", "created_at"],
            batch
                .iter()
                .map(|t| {
                    [
                        Cell::Id(t.user_id),
                        Cell::Text(&t.medium),
                        Cell::Text(&t.address),
                        Cell::Int(t.created_at_ms),
                    ]
                })
                .collect(),
        )
        .await
    }

    async fn write_upstream_links(
        &mut self,
        batch: &[UpstreamLinkRecord],
    ) -> Result<(), BulkError> {
        self.count_batch();
        self.write(
            "upstream_oauth_links",
            [
                "upstream_oauth_link_id",
                "upstream_oauth_provider_id",
                "user_id",
                "subject",
                "created_at",
            ],
            batch
                .iter()
                .map(|l| {
                    [
                        Cell::Id(l.id),
                        Cell::Id(l.provider_id),
                        Cell::Id(l.user_id),
                        Cell::Text(&l.subject),
                        Cell::Int(l.created_at_ms),
                    ]
                })
                .collect(),
        )
        .await
    }

    async fn write_compat_sessions(
        &mut self,
        batch: &[CompatSessionRecord],
    ) -> Result<(), BulkError> {
        self.count_batch();
        self.write(
            "compat_sessions",
            [
                "compat_session_id",
                "user_id",
                "device_id",
                "human_name",
                "created_at",
                "is_synapse_admin",
                "last_active_at",
                "last_active_ip",
                "user_agent",
            ],
            batch
                .iter()
                .map(|s| {
                    [
                        Cell::Id(s.id),
                        Cell::Id(s.user_id),
                        Cell::OptText(s.device_id.as_deref()),
                        Cell::OptText(s.display_name.as_deref()),
                        Cell::Int(s.created_at_ms),
                        Cell::Int4(i32::from(s.is_synapse_admin)),
                        Cell::OptInt(s.last_active_at_ms),
                        Cell::OptText(s.last_active_ip.as_deref()),
                        Cell::OptText(s.user_agent.as_deref()),
                    ]
                })
                .collect(),
        )
        .await
    }

    async fn write_access_tokens(&mut self, batch: &[AccessTokenRecord]) -> Result<(), BulkError> {
        self.count_batch();
        self.write(
            "compat_access_tokens",
            [
                "compat_access_token_id",
                "compat_session_id",
                "access_token_sha256",
                "created_at",
                "expires_at",
            ],
            batch
                .iter()
                .map(|t| {
                    [
                        Cell::Id(t.id),
                        Cell::Id(t.session_id),
                        Cell::Digest(digest(&t.token)),
                        Cell::Int(t.created_at_ms),
                        Cell::OptInt(t.expires_at_ms),
                    ]
                })
                .collect(),
        )
        .await
    }

    async fn write_refresh_tokens(
        &mut self,
        batch: &[RefreshTokenRecord],
    ) -> Result<(), BulkError> {
        self.count_batch();
        self.write(
            "compat_refresh_tokens",
            [
                "compat_refresh_token_id",
                "compat_session_id",
                "compat_access_token_id",
                "refresh_token_sha256",
                "created_at",
            ],
            batch
                .iter()
                .map(|t| {
                    [
                        Cell::Id(t.id),
                        Cell::Id(t.session_id),
                        Cell::Id(t.access_token_id),
                        Cell::Digest(digest(&t.token)),
                        Cell::Int(t.created_at_ms),
                    ]
                })
                .collect(),
        )
        .await
    }

    async fn flush(&mut self) -> Result<(), BulkError> {
        Ok(())
    }
}

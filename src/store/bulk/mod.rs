//! The importer's bulk sink: writes `gatehouse-importer` records into Gatehouse's tables, fast,
//! so that a crash or kill leaves nothing behind and a rerun starts clean.
//!
//! The one place with backend-specific SQL (DESIGN.md allows it where it buys real speed):
//! [`postgres`] loads through a staging schema with binary COPY on two connections and swaps
//! the tables in at the end; [`sqlite`] inserts in one transaction with the secondary indexes
//! dropped for the load. A dry run does everything, then rolls the last transaction back.
//!
//! The records become rows the same way for both, one module per phase of the import:
//! [`users`] (and their passwords), [`threepids`] (emails and the other third-party ids),
//! [`upstream`] (links to upstream providers), [`sessions`] (devices as compat sessions, and
//! their tokens, stored as SHA-256 digests only, like every other token).

mod postgres;
mod sessions;
mod sqlite;
mod threepids;
mod upstream;
mod users;

use gatehouse_importer::{
    AccessTokenRecord, CompatSessionRecord, EmailRecord, RefreshTokenRecord, Sink,
    UnsupportedThreepidRecord, UpstreamLinkRecord, UserRecord,
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

pub use postgres::STAGING_SCHEMA;

/// Test hook: abort the process (as a kill would) after this many batches.
const ABORT_ENV: &str = "GATEHOUSE_TEST_SYN2MAS_ABORT_AFTER_BATCHES";

#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the Gatehouse database is not empty ({0}); migrate into a freshly created database")]
    NotEmpty(String),
    #[error(
        "the Gatehouse table(s) {0} have triggers, row security, storage options, publications or another owner, which the importer cannot carry over"
    )]
    Unsupported(String),
    #[error("a loading connection failed: {0}")]
    Loader(String),
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

/// The rows of one batch for one table, with the columns they fill (in order).
struct Rows<'a, const N: usize> {
    table: &'static str,
    columns: [&'static str; N],
    rows: Vec<[Cell<'a>; N]>,
}

enum Target {
    Postgres(Box<postgres::Staged>),
    Sqlite(sqlite::Loading),
}

/// The sink, holding its open transaction.
pub struct BulkSink {
    target: Target,
    batches: u64,
    abort_after: Option<u64>,
}

impl BulkSink {
    /// Connect to `url` (the same database the store uses), make sure every table the
    /// migration writes is empty, and get ready to load.
    pub async fn begin(url: &str) -> Result<Self, BulkError> {
        let target = match Backend::from_url(url)? {
            Backend::Postgres => Target::Postgres(Box::new(postgres::Staged::begin(url).await?)),
            Backend::Sqlite => Target::Sqlite(sqlite::Loading::begin(url).await?),
        };
        Ok(Self {
            target,
            batches: 0,
            abort_after: std::env::var(ABORT_ENV).ok().and_then(|v| v.parse().ok()),
        })
    }

    /// PostgreSQL: finish the loads (keys and indexes built), then in the main transaction
    /// validate the foreign keys and swap the staged tables in. SQLite: rebuild the indexes.
    /// Re-adding a foreign key validates every row, so a dry run checks the same constraints
    /// a real run does. [`Self::commit`] and [`Self::rollback`] do it when it was not done
    /// yet; calling it first lets the caller time it on its own.
    pub async fn restore_constraints(&mut self) -> Result<(), BulkError> {
        match &mut self.target {
            Target::Postgres(staged) => staged.swap().await,
            Target::Sqlite(loading) => loading.rebuild_indexes().await,
        }
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
                Target::Postgres(staged) => {
                    sqlx::query(sql)
                        .bind(id.to_string())
                        .execute(&mut staged.main)
                        .await?;
                }
                Target::Sqlite(loading) => {
                    sqlx::query(sql)
                        .bind(id.to_string())
                        .execute(&mut loading.conn)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Make the migration durable.
    pub async fn commit(self) -> Result<(), BulkError> {
        self.end("COMMIT").await
    }

    /// Throw everything away (dry run), after building the keys, indexes and foreign keys,
    /// so that a dry run checks what a real run checks.
    pub async fn rollback(self) -> Result<(), BulkError> {
        self.end("ROLLBACK").await
    }

    async fn end(mut self, how: &'static str) -> Result<(), BulkError> {
        self.restore_constraints().await?;
        match self.target {
            Target::Postgres(staged) => staged.end(how).await,
            Target::Sqlite(loading) => loading.end(how).await,
        }
    }

    fn count_batch(&mut self) {
        self.batches += 1;
        if self.abort_after.is_some_and(|n| self.batches > n) {
            eprintln!("{ABORT_ENV}: aborting after {} batches", self.batches - 1);
            std::process::abort();
        }
    }

    async fn write<const N: usize>(&mut self, rows: Rows<'_, N>) -> Result<(), BulkError> {
        if rows.rows.is_empty() {
            return Ok(());
        }
        match &mut self.target {
            Target::Postgres(staged) => staged.copy(rows).await,
            Target::Sqlite(loading) => loading.insert(rows).await,
        }
    }
}

fn not_empty(busy: &[(String, i64)]) -> BulkError {
    let list: Vec<String> = busy
        .iter()
        .map(|(table, count)| format!("{table}: {count} rows"))
        .collect();
    BulkError::NotEmpty(list.join(", "))
}

/// One query for the row count of every migration table: `(table, count)` rows.
fn count_rows_sql() -> sqlx::AssertSqlSafe<String> {
    let selects: Vec<String> = MIGRATION_TABLES
        .iter()
        .map(|table| format!("SELECT '{table}' AS name, count(*) AS count FROM {table}"))
        .collect();
    sqlx::AssertSqlSafe(selects.join(" UNION ALL "))
}

fn only_busy(counts: Vec<(String, i64)>) -> Vec<(String, i64)> {
    counts.into_iter().filter(|(_, count)| *count > 0).collect()
}

impl Sink for BulkSink {
    type Error = BulkError;

    async fn write_users(&mut self, batch: &[UserRecord]) -> Result<(), BulkError> {
        self.count_batch();
        self.write(users::users(batch)).await?;
        self.write(users::passwords(batch)).await
    }

    async fn write_emails(&mut self, batch: &[EmailRecord]) -> Result<(), BulkError> {
        self.count_batch();
        self.write(threepids::emails(batch)).await
    }

    async fn write_unsupported_threepids(
        &mut self,
        batch: &[UnsupportedThreepidRecord],
    ) -> Result<(), BulkError> {
        self.count_batch();
        self.write(threepids::unsupported(batch)).await
    }

    async fn write_upstream_links(
        &mut self,
        batch: &[UpstreamLinkRecord],
    ) -> Result<(), BulkError> {
        self.count_batch();
        self.write(upstream::links(batch)).await
    }

    async fn write_compat_sessions(
        &mut self,
        batch: &[CompatSessionRecord],
    ) -> Result<(), BulkError> {
        self.count_batch();
        self.write(sessions::sessions(batch)).await
    }

    async fn write_access_tokens(&mut self, batch: &[AccessTokenRecord]) -> Result<(), BulkError> {
        self.count_batch();
        self.write(sessions::access_tokens(batch)).await
    }

    async fn write_refresh_tokens(
        &mut self,
        batch: &[RefreshTokenRecord],
    ) -> Result<(), BulkError> {
        self.count_batch();
        self.write(sessions::refresh_tokens(batch)).await
    }

    async fn users_done(&mut self) -> Result<(), BulkError> {
        if let Target::Postgres(staged) = &mut self.target {
            staged.users_done().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BulkError> {
        Ok(())
    }
}

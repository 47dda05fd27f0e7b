//! Storage over SQLite (the embedded default) and PostgreSQL through sqlx's `Any` driver, so each
//! query is written once. [`Store`] owns the pool; [`Repo`] owns one transaction and hands out one
//! repository per aggregate (`repo.users()`, `repo.compat()`, …). Dropping a `Repo` without
//! [`Repo::save`] rolls back.

pub mod browser_sessions;
pub mod bulk;
pub mod client_assertions;
mod codec;
pub mod compat;
pub mod compat_sso;
pub mod emails;
pub mod invalidations;
pub mod jobs;
pub mod oauth2_clients;
pub mod oauth2_grants;
pub mod oauth2_sessions;
pub mod pagination;
pub mod passwords;
pub mod personal;
pub mod policy_data;
pub mod registration_tokens;
pub mod upstream;
pub mod users;

use std::{
    borrow::Cow,
    sync::{Arc, Once},
    time::Duration,
};

use sqlx::{
    Any, AnyConnection, AnyPool, Transaction,
    any::AnyPoolOptions,
    migrate::{Migration, MigrationType, Migrator},
    pool::PoolConnection,
};

pub use self::{
    browser_sessions::BrowserSessionRepo, client_assertions::ClientAssertionRepo,
    compat::CompatRepo, compat_sso::CompatSsoRepo, emails::EmailRepo, jobs::JobRepo,
    oauth2_clients::OAuth2ClientRepo, oauth2_grants::OAuth2GrantRepo,
    oauth2_sessions::OAuth2SessionRepo, passwords::PasswordRepo, personal::PersonalRepo,
    policy_data::PolicyDataRepo, registration_tokens::RegistrationTokenRepo,
    upstream::UpstreamRepo, users::UserRepo,
};

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Tell the backend from a connection URL.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("unexpected value in column {column}: {detail}")]
    Corrupt {
        column: &'static str,
        detail: String,
    },
    #[error("unsupported database URL: expected sqlite:// or postgres(ql)://")]
    UnsupportedUrl,
}

/// Pool settings (from the `database` config section).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub min_connections: u32,
    pub max_connections: u32,
    pub connect_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    pub max_lifetime: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            min_connections: 0,
            max_connections: 10,
            connect_timeout: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
        }
    }
}

/// The database: a connection pool and the knowledge of which engine is behind it.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time. Queueing writers here, in order, is much faster than
    /// letting them collide on the database lock and back off in SQLite's busy handler.
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    /// Token answers gone stale (see [`invalidations`]).
    invalidations: Arc<invalidations::TokenInvalidations>,
    /// Connections kept out of the pool for [`Store::lookup_reader`].
    kept: Arc<[KeptSlot]>,
}

type KeptSlot = Arc<tokio::sync::Mutex<Option<AnyConnection>>>;

/// How many connections [`Store::lookup_reader`] keeps, besides the pool's.
pub const KEPT_CONNECTIONS: usize = 8;

static INSTALL_DRIVERS: Once = Once::new();

impl Store {
    /// Connect to `url` (`sqlite://path?mode=rwc` or `postgres://…`).
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = Backend::from_url(url)?;
        let mut options = AnyPoolOptions::new()
            .min_connections(settings.min_connections)
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.connect_timeout)
            .idle_timeout(settings.idle_timeout)
            .max_lifetime(settings.max_lifetime)
            // No ping before handing out a connection: it costs a round trip (on SQLite, two
            // hops to the connection's worker thread) on every hot-path lookup. A connection
            // that broke while idle fails its next query and is then dropped by the pool;
            // idle_timeout and max_lifetime retire old ones.
            .test_before_acquire(false);
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer commits; NORMAL is durable in WAL mode
            // except for the last transactions on power loss, the usual embedded trade-off.
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::raw_sql("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA mmap_size = 268435456;")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        Ok(Self {
            pool,
            backend,
            sqlite_writer: Arc::new(tokio::sync::Mutex::new(())),
            invalidations: Arc::default(),
            kept: (0..KEPT_CONNECTIONS).map(|_| KeptSlot::default()).collect(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Apply every pending migration for this backend. Running it twice is a no-op.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrator(self.backend).run(&self.pool).await?;
        Ok(())
    }

    /// Versions of migrations not yet applied (empty when the schema is current).
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let applied: Vec<i64> = match sqlx::query_scalar::<_, i64>(
            "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        {
            Ok(versions) => versions,
            // No bookkeeping table yet: nothing applied.
            Err(sqlx::Error::Database(_)) => Vec::new(),
            Err(error) => return Err(error.into()),
        };
        Ok(migrator(self.backend)
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    /// Begin a read-write unit of work.
    pub async fn repo(&self) -> Result<Repo, StoreError> {
        match self.backend {
            Backend::Sqlite => {
                let writer = self.sqlite_writer.clone().lock_owned().await;
                // Take SQLite's write lock up front: a deferred transaction that reads and then
                // writes fails with SQLITE_BUSY when another process's writer got there first.
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Repo {
                    tx,
                    ends_tokens_of: Vec::new(),
                    invalidations: self.invalidations.clone(),
                    _writer: Some(writer),
                })
            }
            Backend::Postgres => Ok(Repo {
                tx: self.pool.begin().await?,
                ends_tokens_of: Vec::new(),
                invalidations: self.invalidations.clone(),
                _writer: None,
            }),
        }
    }

    /// A connection for reads that need no transaction (lookups on hot paths).
    pub async fn reader(&self) -> Result<Reader, StoreError> {
        Ok(Reader {
            conn: ReaderConnection::Pooled(self.pool.acquire().await?),
        })
    }

    /// A connection for the one-query lookups of the hottest path (introspection answers the
    /// cache does not have): one of [`KEPT_CONNECTIONS`] connections kept out of the pool when
    /// one is free, else a pooled one. The pool pings every connection handed back to it, a
    /// round trip as costly as such a lookup; a kept connection is simply put back. After an
    /// error, call [`Reader::discard`]: a broken connection is not kept.
    pub async fn lookup_reader(&self) -> Result<Reader, StoreError> {
        for slot in self.kept.iter() {
            let Ok(mut kept) = slot.clone().try_lock_owned() else {
                continue;
            };
            if kept.is_none() {
                *kept = Some(self.pool.acquire().await?.detach());
            }
            return Ok(Reader {
                conn: ReaderConnection::Kept(kept),
            });
        }
        self.reader().await
    }

    /// The pool, for the few places that need raw access (the importer's bulk sink, tests).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        for slot in self.kept.iter() {
            if let Some(conn) = slot.lock().await.take() {
                let _ = sqlx::Connection::close(conn).await;
            }
        }
        self.pool.close().await;
    }
}

/// One transaction and the repositories that work inside it. Do not open a second `Repo` while
/// holding one: on SQLite the second waits for the first.
pub struct Repo {
    tx: Transaction<'static, Any>,
    /// Tokens, sessions and users whose access tokens this unit of work ends or narrows.
    ends_tokens_of: Vec<ulid::Ulid>,
    invalidations: Arc<invalidations::TokenInvalidations>,
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// A connection for reads outside a transaction.
pub struct Reader {
    conn: ReaderConnection,
}

enum ReaderConnection {
    Pooled(PoolConnection<Any>),
    /// Lent from a kept slot; always `Some` while lent.
    Kept(tokio::sync::OwnedMutexGuard<Option<AnyConnection>>),
}

impl Reader {
    /// Do not reuse this connection (after an error: it may be broken).
    pub fn discard(self) {
        match self.conn {
            ReaderConnection::Pooled(mut conn) => conn.close_on_drop(),
            ReaderConnection::Kept(mut kept) => *kept = None,
        }
    }
}

impl std::ops::Deref for ReaderConnection {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            ReaderConnection::Pooled(conn) => conn,
            ReaderConnection::Kept(kept) => kept.as_ref().expect("a kept connection while lent"),
        }
    }
}

impl std::ops::DerefMut for ReaderConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            ReaderConnection::Pooled(conn) => conn,
            ReaderConnection::Kept(kept) => kept.as_mut().expect("a kept connection while lent"),
        }
    }
}

macro_rules! repositories {
    ($($method:ident -> $repo:ident),* $(,)?) => {
        impl Repo {
            $(pub fn $method(&mut self) -> $repo<'_, Write<'_>> {
                $repo::new(Conn { conn: &mut *self.tx, mode: Write { ends_tokens_of: &mut self.ends_tokens_of } })
            })*

            /// Commit everything done through this repo.
            pub async fn save(mut self) -> Result<(), StoreError> {
                if self.ends_tokens_of.is_empty() {
                    self.tx.commit().await?;
                    return Ok(());
                }
                let mut subjects = std::mem::take(&mut self.ends_tokens_of);
                subjects.sort_unstable();
                subjects.dedup();
                let row_ids = invalidations::write_rows(&mut self.tx, &subjects).await?;
                self.tx.commit().await?;
                invalidations::committed(&self.invalidations, subjects, row_ids);
                Ok(())
            }
        }

        impl Reader {
            $(pub fn $method(&mut self) -> $repo<'_, Read> {
                $repo::new(Conn { conn: &mut *self.conn, mode: Read })
            })*
        }
    };
}

repositories! {
    users -> UserRepo,
    passwords -> PasswordRepo,
    emails -> EmailRepo,
    compat -> CompatRepo,
    registration_tokens -> RegistrationTokenRepo,
    oauth2_clients -> OAuth2ClientRepo,
    jobs -> JobRepo,
    personal -> PersonalRepo,
    browser_sessions -> BrowserSessionRepo,
    compat_sso -> CompatSsoRepo,
    upstream -> UpstreamRepo,
    oauth2_sessions -> OAuth2SessionRepo,
    client_assertions -> ClientAssertionRepo,
    oauth2_grants -> OAuth2GrantRepo,
    policy_data -> PolicyDataRepo,
}

/// A session's latest use, as the activity recorder writes it.
#[derive(Debug, Clone, Copy)]
pub struct SessionActivity<'a> {
    pub session_id: ulid::Ulid,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The client's address, when known (else the stored one stays).
    pub ip: Option<&'a str>,
}

/// Sessions recorded per statement: a few hundred keep the statement and its parameter list
/// small, where the flush of 100,000 sessions' activity (bench/introspection.sh) was 100,000
/// statements.
const ACTIVITY_BATCH: usize = 250;

/// Record the latest use of sessions (rows of `table`, keyed by `key`). `table` and `key` are
/// fixed names chosen by the repositories, never input. `UPDATE … FROM (VALUES …)` is the
/// same on SQLite (3.33 and later) and PostgreSQL; VALUES columns are `column1`, … on both.
pub(crate) async fn record_session_activity(
    conn: &mut AnyConnection,
    table: &'static str,
    key: &'static str,
    activity: &[SessionActivity<'_>],
) -> Result<(), StoreError> {
    // SQLite looks a numbered parameter's name up in a list as long as the statement's
    // parameters, once per parameter bound: with `$n` a 250-row flush cost 0.3 µs per
    // request of bench/introspection.sh's flat-out run (perf), anonymous `?` costs nothing.
    let numbered = conn.backend_name() == "PostgreSQL";
    for batch in activity.chunks(ACTIVITY_BATCH) {
        let rows = (0..batch.len())
            .map(|i| match numbered {
                true => format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3),
                false => "(?, ?, ?)".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE {table} SET last_active_at = CAST(v.column2 AS BIGINT),
                 last_active_ip = COALESCE(v.column3, {table}.last_active_ip)
             FROM (VALUES {rows}) AS v
             WHERE {table}.{key} = v.column1"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for used in batch {
            query = query
                .bind(used.session_id.to_string())
                .bind(codec::ms(used.at))
                .bind(used.ip);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The migrations, one line each: version and file stem, the same stem under
/// `migrations/sqlite/` and `migrations/postgres/`. Both are embedded in the binary.
macro_rules! migrations {
    ($($version:literal => $stem:literal),* $(,)?) => {
        const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
            $(($version, $stem, include_str!(concat!("../../migrations/sqlite/", $stem, ".sql")))),*
        ];
        const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
            $(($version, $stem, include_str!(concat!("../../migrations/postgres/", $stem, ".sql")))),*
        ];
    };
}

migrations! {
    1 => "0001_initial",
    2 => "0002_sessions_and_upstream",
    4 => "0004_admin_api_indexes",
    5 => "0005_token_invalidations",
    6 => "0006_drop_redundant_indexes",
    7 => "0007_compat_sessions_active_by_user",
    8 => "0008_token_use_and_rotation",
    9 => "0009_client_assertion_jtis",
    10 => "0010_oauth2_grants",
    11 => "0011_client_registration",
    12 => "0012_policy_data",
}

fn migrator(backend: Backend) -> Migrator {
    let sources = match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    };
    Migrator::with_migrations(
        sources
            .iter()
            .map(|&(version, stem, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(stem),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(sql),
                    false,
                )
            })
            .collect(),
    )
}

/// A connection handle every repository holds: the connection (or transaction), and what the
/// handle may do with it: [`Read`] outside a transaction, [`Write`] inside a unit of work.
/// Repositories implement their writes for `Conn<Write>` only, so a [`Reader`] cannot reach
/// them, and every write that ends or narrows access tokens goes through
/// [`Write::ends_tokens_of`].
pub(crate) struct Conn<'c, M> {
    conn: &'c mut AnyConnection,
    mode: M,
}

/// Reads outside a transaction ([`Store::reader`]): no write method is available.
pub struct Read;

/// The unit of work's transaction ([`Store::repo`]), with the list of tokens, sessions and users
/// whose access tokens it ends or narrows.
pub struct Write<'c> {
    ends_tokens_of: &'c mut Vec<ulid::Ulid>,
}

impl Conn<'_, Write<'_>> {
    /// Record that this unit of work ends or narrows the access tokens of `id` (a token, a
    /// session or a user): cached answers about them go stale on commit, in every process.
    pub(crate) fn ends_tokens_of(&mut self, id: ulid::Ulid) {
        self.mode.ends_tokens_of.push(id);
    }
}

impl<M> std::ops::Deref for Conn<'_, M> {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        self.conn
    }
}

impl<M> std::ops::DerefMut for Conn<'_, M> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn
    }
}

//! The Synapse database, read-only, on PostgreSQL or SQLite. Every read of a run happens in one
//! read-only transaction (one consistent snapshot); rows are streamed, never loaded whole.
//!
//! The same SQL runs on both engines: flags are cast to integers in SQL because Synapse stores
//! some as SMALLINT and some as BOOLEAN on PostgreSQL (all are integers on SQLite).

use std::{path::PathBuf, str::FromStr};

use futures_util::{StreamExt, TryStreamExt, stream::BoxStream};
use sqlx::{
    Connection, PgConnection, Row, SqliteConnection,
    postgres::PgConnectOptions,
    sqlite::{SqliteConnectOptions, SqliteRow},
};

use crate::{pg_copy::CopyReader, synapse_config::SynapseConfig};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("Synapse database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("Synapse database: {0}")]
    Config(String),
    #[error(
        "Synapse seems to be running (it holds {what}); stop Synapse before migrating, or use --dry-run"
    )]
    SynapseRunning { what: String },
    #[error("Synapse database: unexpected value in {column}: {detail}")]
    Corrupt {
        column: &'static str,
        detail: String,
    },
}

/// The tables a migration reads (and locks during a real run on PostgreSQL).
pub const READ_TABLES: [&str; 6] = [
    "users",
    "user_threepids",
    "user_external_ids",
    "devices",
    "access_tokens",
    "refresh_tokens",
];

/// Where the Synapse database is.
#[derive(Debug, Clone)]
pub enum SourceLocation {
    Postgres(Box<PgConnectOptions>),
    Sqlite(PathBuf),
}

impl SourceLocation {
    /// From `homeserver.yaml`'s `database` section, or the `--synapse-database-uri` override.
    /// PostgreSQL settings missing from both fall back to libpq's `PG*` variables.
    pub fn resolve(config: &SynapseConfig, uri: Option<&str>) -> Result<Self, SourceError> {
        if let Some(uri) = uri {
            if let Some(path) = uri
                .strip_prefix("sqlite://")
                .or_else(|| uri.strip_prefix("sqlite:"))
            {
                return Ok(Self::Sqlite(PathBuf::from(
                    path.split('?').next().unwrap_or(path),
                )));
            }
            let options = PgConnectOptions::from_str(uri).map_err(|e| {
                SourceError::Config(format!("--synapse-database-uri is not a valid URI: {e}"))
            })?;
            return Ok(Self::Postgres(Box::new(options)));
        }
        let Some(database) = &config.database else {
            return Err(SourceError::Config(
                "homeserver.yaml has no `database` section (Synapse's default is SQLite at homeserver.db); add one or pass --synapse-database-uri".to_owned(),
            ));
        };
        let arg = |name: &str| -> Option<String> {
            match database.args.get(name)? {
                serde_yaml_ng::Value::String(s) => Some(s.clone()),
                serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        match database.name.as_str() {
            "sqlite3" => {
                let path = arg("database").ok_or_else(|| {
                    SourceError::Config(
                        "database.args.database (the SQLite file) is missing".into(),
                    )
                })?;
                Ok(Self::Sqlite(PathBuf::from(path)))
            }
            "psycopg2" => {
                // new() reads PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, …
                let mut options = PgConnectOptions::new();
                if let Some(host) = arg("host") {
                    options = if host.starts_with('/') {
                        options.socket(host)
                    } else {
                        options.host(&host)
                    };
                }
                if let Some(port) = arg("port") {
                    let port = port.parse().map_err(|_| {
                        SourceError::Config(format!("database.args.port {port:?} is not a port"))
                    })?;
                    options = options.port(port);
                }
                if let Some(user) = arg("user") {
                    options = options.username(&user);
                }
                if let Some(password) = arg("password") {
                    options = options.password(&password);
                }
                if let Some(name) = arg("database").or_else(|| arg("dbname")) {
                    options = options.database(&name);
                }
                if let Some(mode) = arg("sslmode") {
                    options = options.ssl_mode(mode.parse().map_err(|_| {
                        SourceError::Config(format!("database.args.sslmode {mode:?} is not valid"))
                    })?);
                }
                Ok(Self::Postgres(Box::new(options)))
            }
            other => Err(SourceError::Config(format!(
                "database.name {other:?} is not supported (expected psycopg2 or sqlite3)"
            ))),
        }
    }
}

/// An open, read-only view of the Synapse database.
pub enum SynapseDb {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Reading cells the same way from either engine.
pub(crate) trait Cells {
    fn int(&self, index: usize) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, index: usize) -> Result<Option<i64>, sqlx::Error>;
    fn text(&self, index: usize) -> Result<String, sqlx::Error>;
    fn opt_text(&self, index: usize) -> Result<Option<String>, sqlx::Error>;
}

/// SQLite rows (PostgreSQL's are read from binary COPY data: `pg_copy`).
impl Cells for SqliteRow {
    fn int(&self, index: usize) -> Result<i64, sqlx::Error> {
        self.try_get(index)
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(index)
    }
    fn text(&self, index: usize) -> Result<String, sqlx::Error> {
        self.try_get(index)
    }
    fn opt_text(&self, index: usize) -> Result<Option<String>, sqlx::Error> {
        self.try_get(index)
    }
}

/// A row type read by one query.
pub(crate) trait FromCells: Sized + Send + 'static {
    const SQL: &'static str;
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error>;
}

impl SynapseDb {
    /// Open the database and start the read transaction. A real run (`lock = true`) refuses to
    /// go on while Synapse is running.
    pub async fn open(
        location: &SourceLocation,
        config: &SynapseConfig,
        lock: bool,
    ) -> Result<Self, SourceError> {
        match location {
            SourceLocation::Postgres(options) => {
                let mut conn = PgConnection::connect_with(options).await?;
                crate::net::set_tcp_nodelay(&mut conn).await?;
                // No parallel workers: each is a new server process competing with this run's
                // other connections for the same cores (the reads are single scans and one
                // hash join, which one process streams fastest). Turned off with the sink's
                // connections, it took the whole machine's CPU for 200k users from 7.5-7.9 to
                // 6.4-6.8 CPU-seconds.
                sqlx::raw_sql(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
                     SET LOCAL max_parallel_workers_per_gather = 0",
                )
                .execute(&mut conn)
                .await?;
                if lock {
                    // EXCLUSIVE conflicts with Synapse's writes but not with plain reads: if
                    // Synapse is up and writing, this fails at once instead of waiting.
                    let sql = format!(
                        "LOCK TABLE {} IN EXCLUSIVE MODE NOWAIT",
                        READ_TABLES.join(", ")
                    );
                    if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await
                    {
                        if let sqlx::Error::Database(db) = &error
                            && db.code().as_deref() == Some("55P03")
                        {
                            return Err(SourceError::SynapseRunning {
                                what: "locks on its tables".to_owned(),
                            });
                        }
                        return Err(error.into());
                    }
                }
                Ok(Self::Postgres(conn))
            }
            SourceLocation::Sqlite(path) => {
                if !path.exists() {
                    return Err(SourceError::Config(format!(
                        "SQLite database {} does not exist",
                        path.display()
                    )));
                }
                if lock {
                    refuse_if_running(config)?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(true)
                    .create_if_missing(false);
                let mut conn = SqliteConnection::connect_with(&options).await?;
                // A deferred read transaction: one snapshot for the whole run, and in rollback
                // journal mode a shared lock that keeps writers out until we are done.
                sqlx::raw_sql("BEGIN").execute(&mut conn).await?;
                if lock {
                    // Take the shared lock now: fails when a writer holds the database.
                    let busy = sqlx::raw_sql("SELECT count(*) FROM users")
                        .execute(&mut conn)
                        .await;
                    if let Err(sqlx::Error::Database(db)) = &busy
                        && db.message().contains("locked")
                    {
                        return Err(SourceError::SynapseRunning {
                            what: "a write lock on the database".to_owned(),
                        });
                    }
                    busy?;
                }
                Ok(Self::Sqlite(conn))
            }
        }
    }

    pub(crate) fn stream<T: FromCells>(&mut self) -> BoxStream<'_, Result<T, SourceError>> {
        fn map<R: Cells, T: FromCells>(row: Result<R, sqlx::Error>) -> Result<T, SourceError> {
            Ok(T::from_cells(&row?)?)
        }
        match self {
            Self::Postgres(conn) => {
                // Binary COPY of the same query: see `pg_copy`.
                let sql = format!("COPY ({}) TO STDOUT (FORMAT binary)", T::SQL);
                futures_util::stream::once(async move { conn.copy_out_raw(&sql).await })
                    .map_ok(|chunks| {
                        futures_util::stream::try_unfold(
                            CopyReader::new(chunks),
                            |mut reader| async move {
                                Ok(reader.next::<T>().await?.map(|row| (row, reader)))
                            },
                        )
                    })
                    .map_err(SourceError::from)
                    .try_flatten()
                    .boxed()
            }
            Self::Sqlite(conn) => sqlx::raw_sql(T::SQL).fetch(conn).map(map).boxed(),
        }
    }

    /// An approximate row count for progress (PostgreSQL's planner estimate; exact on SQLite).
    pub async fn approx_count(&mut self, table: &str) -> Result<u64, SourceError> {
        let count: i64 = match self {
            Self::Postgres(conn) => {
                let estimate: f32 = sqlx::query_scalar(
                    "SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)",
                )
                .bind(table)
                .fetch_optional(&mut *conn)
                .await?
                .unwrap_or(-1.0);
                if estimate >= 0.0 {
                    estimate as i64
                } else {
                    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                        .fetch_one(&mut *conn)
                        .await?
                }
            }
            Self::Sqlite(conn) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&mut *conn)
                    .await?
            }
        };
        Ok(count.max(0) as u64)
    }

    /// One integer from a query (for the checks).
    pub(crate) async fn scalar(&mut self, sql: &'static str) -> Result<i64, SourceError> {
        Ok(match self {
            Self::Postgres(conn) => sqlx::query_scalar(sql).fetch_one(conn).await?,
            Self::Sqlite(conn) => sqlx::query_scalar(sql).fetch_one(conn).await?,
        })
    }

    /// (users whose id is not on `server_name`, guest users), in one scan of `users`. A user
    /// id is on the server when everything after its first `:` is the server name.
    pub(crate) async fn user_counts(
        &mut self,
        server_name: &str,
    ) -> Result<(i64, i64), SourceError> {
        Ok(match self {
            Self::Postgres(conn) => {
                sqlx::query_as(
                    "SELECT count(*) FILTER (WHERE strpos(name, ':') <> length(name) - length($1)
                                               OR right(name, length($1)) <> $1),
                            count(*) FILTER (WHERE is_guest <> 0)
                     FROM users",
                )
                .bind(server_name)
                .fetch_one(conn)
                .await?
            }
            Self::Sqlite(conn) => {
                sqlx::query_as(
                    "SELECT count(*) FILTER (WHERE instr(name, ':') <> length(name) - length(?1)
                                               OR substr(name, -length(?1)) <> ?1),
                            count(*) FILTER (WHERE is_guest <> 0)
                     FROM users",
                )
                .bind(server_name)
                .fetch_one(conn)
                .await?
            }
        })
    }

    /// Rows of (text, count) from a query (for the checks).
    pub(crate) async fn text_counts(
        &mut self,
        sql: &'static str,
    ) -> Result<Vec<(String, i64)>, SourceError> {
        Ok(match self {
            Self::Postgres(conn) => sqlx::query_as(sql).fetch_all(conn).await?,
            Self::Sqlite(conn) => sqlx::query_as(sql).fetch_all(conn).await?,
        })
    }

    /// End the read transaction (nothing was written; this releases the locks).
    pub async fn close(self) -> Result<(), SourceError> {
        match self {
            Self::Postgres(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await?;
                conn.close().await?;
            }
            Self::Sqlite(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await?;
                conn.close().await?;
            }
        }
        Ok(())
    }
}

/// SQLite has no lock a running but idle Synapse holds, so look at its pid file.
fn refuse_if_running(config: &SynapseConfig) -> Result<(), SourceError> {
    let Some(pid_file) = &config.pid_file else {
        return Ok(());
    };
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return Ok(());
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return Ok(());
    };
    if PathBuf::from(format!("/proc/{pid}")).exists() {
        return Err(SourceError::SynapseRunning {
            what: format!("pid file {} naming live process {pid}", pid_file.display()),
        });
    }
    Ok(())
}

pub(crate) fn flag(value: i64) -> bool {
    value != 0
}

/// `users`.
#[derive(Debug)]
pub(crate) struct SynUser {
    pub name: String,
    pub password_hash: Option<String>,
    pub admin: bool,
    pub deactivated: bool,
    pub locked: bool,
    pub creation_ts: i64,
    pub is_guest: bool,
    pub appservice_id: Option<String>,
}

impl FromCells for SynUser {
    const SQL: &'static str =
        "SELECT name, password_hash, CAST(admin AS BIGINT), CAST(deactivated AS BIGINT),
        CAST(CAST(locked AS INTEGER) AS BIGINT), CAST(COALESCE(creation_ts, 0) AS BIGINT),
        CAST(is_guest AS BIGINT), appservice_id
        FROM users";
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        Ok(Self {
            name: row.text(0)?,
            password_hash: row.opt_text(1)?,
            admin: flag(row.int(2)?),
            deactivated: flag(row.int(3)?),
            locked: flag(row.int(4)?),
            creation_ts: row.int(5)?,
            is_guest: flag(row.int(6)?),
            appservice_id: row.opt_text(7)?,
        })
    }
}

/// `user_threepids`.
#[derive(Debug)]
pub(crate) struct SynThreepid {
    pub user_id: String,
    pub medium: String,
    pub address: String,
    pub added_at: i64,
}

impl FromCells for SynThreepid {
    const SQL: &'static str =
        "SELECT user_id, medium, address, CAST(added_at AS BIGINT) FROM user_threepids";
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        Ok(Self {
            user_id: row.text(0)?,
            medium: row.text(1)?,
            address: row.text(2)?,
            added_at: row.int(3)?,
        })
    }
}

/// `user_external_ids`.
#[derive(Debug)]
pub(crate) struct SynExternalId {
    pub user_id: String,
    pub auth_provider: String,
    pub external_id: String,
}

impl FromCells for SynExternalId {
    const SQL: &'static str = "SELECT user_id, auth_provider, external_id FROM user_external_ids";
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        Ok(Self {
            user_id: row.text(0)?,
            auth_provider: row.text(1)?,
            external_id: row.text(2)?,
        })
    }
}

/// `devices`.
#[derive(Debug)]
pub(crate) struct SynDevice {
    pub user_id: String,
    pub device_id: String,
    pub display_name: Option<String>,
    pub last_seen: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub hidden: bool,
}

impl FromCells for SynDevice {
    const SQL: &'static str =
        "SELECT user_id, device_id, display_name, CAST(last_seen AS BIGINT), ip, user_agent,
        CAST(CASE WHEN COALESCE(hidden, FALSE) THEN 1 ELSE 0 END AS BIGINT)
        FROM devices";
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        Ok(Self {
            user_id: row.text(0)?,
            device_id: row.text(1)?,
            display_name: row.opt_text(2)?,
            last_seen: row.opt_int(3)?,
            ip: row.opt_text(4)?,
            user_agent: row.opt_text(5)?,
            hidden: flag(row.int(6)?),
        })
    }
}

/// `access_tokens`, with its refresh token when it has one.
#[derive(Debug)]
pub(crate) struct SynAccessToken {
    pub user_id: String,
    pub device_id: Option<String>,
    pub token: String,
    pub valid_until_ms: Option<i64>,
    pub last_validated: Option<i64>,
    pub puppets_user_id: Option<String>,
    pub refresh_token: Option<String>,
    /// Its device row exists and is not hidden (whether it was carried also depends on the
    /// user and the device id, which the migration checks).
    pub device_carriable: bool,
    /// That device's `last_seen` (the time of its session).
    pub device_last_seen: Option<i64>,
    /// The refresh token was rotated and its successor's access token has been used: Synapse
    /// no longer accepts this pair.
    pub superseded: bool,
}

impl FromCells for SynAccessToken {
    // Joins rather than correlated subqueries: Synapse's SQLite schema has no index on
    // access_tokens.refresh_token_id, and SQLite builds automatic indexes for joins only.
    const SQL: &'static str =
        "SELECT a.user_id, a.device_id, a.token, CAST(a.valid_until_ms AS BIGINT),
        CAST(a.last_validated AS BIGINT), a.puppets_user_id, r.token,
        CAST(CASE WHEN u.refresh_token_id IS NOT NULL THEN 1 ELSE 0 END AS BIGINT),
        CAST(CASE WHEN d.device_id IS NOT NULL AND NOT COALESCE(d.hidden, FALSE) THEN 1 ELSE 0 END AS BIGINT),
        CAST(d.last_seen AS BIGINT)
        FROM access_tokens a
        LEFT JOIN devices d ON d.user_id = a.user_id AND d.device_id = a.device_id
        LEFT JOIN refresh_tokens r ON r.id = a.refresh_token_id
        LEFT JOIN (SELECT refresh_token_id FROM access_tokens
                   WHERE refresh_token_id IS NOT NULL AND COALESCE(used, FALSE)
                   GROUP BY refresh_token_id) u ON u.refresh_token_id = r.next_token_id";
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        Ok(Self {
            user_id: row.text(0)?,
            device_id: row.opt_text(1)?,
            token: row.text(2)?,
            valid_until_ms: row.opt_int(3)?,
            last_validated: row.opt_int(4)?,
            puppets_user_id: row.opt_text(5)?,
            refresh_token: row.opt_text(6)?,
            superseded: flag(row.int(7)?),
            device_carriable: flag(row.int(8)?),
            device_last_seen: row.opt_int(9)?,
        })
    }
}

/// `refresh_tokens` rows no access token points at (nothing to pair them with).
#[derive(Debug)]
pub(crate) struct SynLoneRefreshToken {
    pub user_id: String,
    pub device_id: String,
}

impl FromCells for SynLoneRefreshToken {
    const SQL: &'static str = "SELECT r.user_id, r.device_id FROM refresh_tokens r
        LEFT JOIN access_tokens a ON a.refresh_token_id = r.id WHERE a.id IS NULL";
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        Ok(Self {
            user_id: row.text(0)?,
            device_id: row.text(1)?,
        })
    }
}

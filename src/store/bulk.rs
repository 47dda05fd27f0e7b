//! The importer's bulk sink: writes `gatehouse-importer` records into Gatehouse's tables, fast,
//! so that a crash or kill leaves nothing behind and a rerun starts clean.
//!
//! The one place with backend-specific SQL (DESIGN.md allows it where it buys real speed).
//!
//! PostgreSQL: the rows go, with binary `COPY … FROM STDIN`, into copies of the tables in a
//! staging schema, on two connections in parallel (the user tables on one, the sessions and
//! tokens on the other); each builds its tables' keys and indexes, adds the foreign keys
//! between them (validating every row) and commits, and the foreign keys across the two sets
//! are then validated on both connections at once. Then ONE short transaction checks that the
//! real tables are still empty, drops them and moves the staged ones into their place, and
//! restores the foreign keys other tables had on them. A crash or kill before that transaction
//! commits leaves the real tables untouched; the staging schema is dropped at the start and the
//! end of every run. A dry run does everything, then rolls the last transaction back.
//!
//! SQLite: multi-row `INSERT`s of 100 rows per statement in ONE transaction on a native
//! connection, with the tables' secondary indexes dropped for the load and rebuilt before the
//! commit. Tokens are stored as SHA-256 digests only, like every other token.

use std::{collections::BTreeMap, str::FromStr};

use gatehouse_importer::{
    AccessTokenRecord, CompatSessionRecord, EmailRecord, RefreshTokenRecord, Sink,
    UnsupportedThreepidRecord, UpstreamLinkRecord, UserRecord,
};
use sqlx::{
    Connection, PgConnection, QueryBuilder, Sqlite, SqliteConnection, sqlite::SqliteConnectOptions,
};
use tokio::{sync::mpsc, task::JoinHandle};
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

/// PostgreSQL: the schema the load goes into. Only this module uses it; it is dropped, with
/// whatever a killed run left in it, before and after every run.
pub const STAGING_SCHEMA: &str = "syn2mas_staging";

/// PostgreSQL: which of the two loading connections fills a table. The importer sends users,
/// emails and links first, then sessions and tokens: the first connection builds its keys
/// while the second still loads.
fn loader_of(table: &str) -> usize {
    usize::from(table.starts_with("compat_"))
}

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

enum Target {
    Postgres(Box<Staged>),
    Sqlite(SqliteConnection),
}

/// PostgreSQL: the main connection (in a transaction from [`BulkSink::begin`]; it does the
/// swap) and the two loading connections.
struct Staged {
    main: PgConnection,
    /// `current_schema()`, quoted: where the real tables are.
    schema: String,
    loaders: Vec<Loader>,
    /// The keys and indexes of the second loader's tables: it commits right after its COPYs
    /// (the last of the load), then both loaders' connections build these in parallel, one
    /// list each.
    late_builds: [Vec<String>; 2],
    /// The foreign keys between migrated tables that involve the second loader's tables,
    /// added to the staged tables after the late builds. (Those between the first loader's
    /// tables are added by that loader, before it commits.)
    late_foreign_keys: Vec<ForeignKey>,
    /// (table, constraint) of foreign keys other tables have on the migrated ones: dropped
    /// before the real tables go.
    outer_drops: Vec<(String, String)>,
    /// `ALTER TABLE … ADD CONSTRAINT` run after the move: the foreign keys of other tables on
    /// the migrated ones, and of the migrated ones on other tables.
    outer_foreign_keys: Vec<String>,
    /// The real tables' grants, re-granted on the moved tables.
    grants: Vec<String>,
    swapped: bool,
}

enum Job {
    Copy {
        sql: String,
        data: Vec<u8>,
    },
    /// Everything was sent: build the keys and commit. A loader whose channel closes without
    /// this rolls back.
    Finish,
}

/// A foreign key between two migrated tables, as the real tables have it.
struct ForeignKey {
    /// The referencing table (unqualified, as `regclass` prints it).
    table: String,
    /// The constraint's name, quoted.
    name: String,
    /// `FOREIGN KEY (…) REFERENCES …` (the referenced table unqualified: the staging schema
    /// comes first in the search path when it is added).
    definition: String,
    /// The referenced table.
    referenced: String,
}

impl ForeignKey {
    fn add(&self, not_valid: bool) -> String {
        format!(
            "ALTER TABLE {STAGING_SCHEMA}.{} ADD CONSTRAINT {} {}{}",
            self.table,
            self.name,
            self.definition,
            if not_valid { " NOT VALID" } else { "" }
        )
    }
}

struct Loader {
    jobs: mpsc::Sender<Job>,
    /// [`Job::Finish`] was sent.
    finishing: bool,
    task: Option<JoinHandle<Result<PgConnection, BulkError>>>,
}

impl Loader {
    /// The error the loader stopped with (its channel closed early).
    async fn failure(&mut self) -> BulkError {
        match self.task.take() {
            Some(task) => match task.await {
                Ok(Err(error)) => error,
                Ok(Ok(_)) => BulkError::Loader("it got rows after it was finished".to_owned()),
                Err(error) => BulkError::Loader(error.to_string()),
            },
            None => BulkError::Loader("it was finished already".to_owned()),
        }
    }

    /// Tell the loader no more rows come (it builds its keys and commits in the background).
    async fn start_finishing(&mut self) -> Result<(), BulkError> {
        if !self.finishing {
            self.finishing = true;
            if self.jobs.send(Job::Finish).await.is_err() {
                return Err(self.failure().await);
            }
        }
        Ok(())
    }

    /// Wait for the loader's commit; its connection is free for more work then.
    async fn finish(&mut self) -> Result<PgConnection, BulkError> {
        self.start_finishing().await?;
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|error| BulkError::Loader(error.to_string()))?,
            None => Err(BulkError::Loader("it was finished already".to_owned())),
        }
    }
}

/// What one loading connection creates, builds and checks.
struct LoadPlan {
    url: String,
    /// The main connection's `search_path`.
    search_path: String,
    /// `CREATE TABLE` of its staged tables.
    creates: Vec<String>,
    /// Their keys and indexes, built after the COPYs.
    builds: Vec<String>,
    /// The foreign keys between its own tables, added (validated) after the builds.
    foreign_keys: Vec<ForeignKey>,
}

/// One loading connection: create the staged tables, COPY into them, build their keys and
/// indexes, add the foreign keys between them, commit; the connection is handed back for more
/// work.
async fn load(plan: LoadPlan, mut jobs: mpsc::Receiver<Job>) -> Result<PgConnection, BulkError> {
    let LoadPlan {
        url,
        search_path,
        creates,
        builds,
        foreign_keys,
    } = plan;
    let mut conn = PgConnection::connect(&url).await?;
    gatehouse_importer::net::set_tcp_nodelay(&mut conn).await?;
    // The tables are created in the transaction that fills them, so COPY may write frozen
    // rows (`FREEZE`): the key builds and validations then do not dirty every page again to
    // set hint bits, and read the indexes alone (the pages are all-visible).
    sqlx::raw_sql("BEGIN").execute(&mut conn).await?;
    for sql in creates {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await?;
    }
    loop {
        match jobs.recv().await {
            Some(Job::Copy { sql, data }) => {
                let mut copy = conn.copy_in_raw(&sql).await?;
                for chunk in data.chunks(COPY_CHUNK) {
                    copy.send(chunk).await?;
                }
                copy.finish().await?;
            }
            Some(Job::Finish) => break,
            // The sink was dropped mid-load (an error elsewhere): roll back.
            None => {
                return Err(BulkError::Loader("the load was abandoned".to_owned()));
            }
        }
    }
    // For the rest of the session (the connection builds and checks more afterwards):
    //
    // - Key builds sort in small runs (8MB) merged from temporary files, rather than in one
    //   in-memory quicksort of the whole table: with the rows in no useful order, a quicksort
    //   of two million tuples misses the CPU caches on nearly every comparison, while runs that
    //   fit them do not. At 1M users with devices and tokens in login order, the sessions' and
    //   tokens' key builds took 1.25-1.53 s each at 8MB against 1.9-3.0 s at 256MB; with rows
    //   already in key order the two are within 0.1 s of each other. It also keeps the
    //   server's memory for the load small.
    // - No parallel workers: the two loading connections already keep two cores busy, and each
    //   worker is one more server process to start.
    // - No hash joins: a foreign key is checked with one anti-join of the two tables; with
    //   their keys just built (and the rows frozen, so index-only scans), a merge join of the
    //   two indexes measured two to three times cheaper than the hash join the planner picks
    //   for tables it has no statistics on (see `plan_check` for small tables).
    sqlx::raw_sql(
        "SET maintenance_work_mem = '8MB';
         SET max_parallel_maintenance_workers = 0;
         SET max_parallel_workers_per_gather = 0;
         SET enable_hashjoin = off",
    )
    .execute(&mut conn)
    .await?;
    staging_first(&mut conn, &search_path).await?;
    build(&mut conn, builds).await?;
    for key in &foreign_keys {
        plan_check(&mut conn, key).await?;
        execute(&mut conn, key.add(false)).await?;
    }
    sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
    Ok(conn)
}

/// Resolve unqualified table names to the staged tables first, for the rest of the session.
async fn staging_first(conn: &mut PgConnection, search_path: &str) -> Result<(), BulkError> {
    sqlx::query("SELECT set_config('search_path', $1, false)")
        .bind(format!("{STAGING_SCHEMA}, {search_path}"))
        .execute(conn)
        .await?;
    Ok(())
}

async fn execute(conn: &mut PgConnection, sql: String) -> Result<(), BulkError> {
    tracing::debug!("running: {sql}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await?;
    Ok(())
}

/// Choose how the next foreign key check joins: when the referencing table has far fewer rows
/// than the referenced one, one index lookup per row beats reading the whole referenced key
/// (refresh tokens against sessions at 1M users: 96 ms instead of 256 ms); otherwise the merge
/// join. The row counts are those the key builds recorded.
async fn plan_check(conn: &mut PgConnection, key: &ForeignKey) -> Result<(), BulkError> {
    let referencing = staged_rows(conn, &key.table).await?;
    let referenced = staged_rows(conn, &key.referenced).await?;
    let lookups = referencing >= 0.0 && referencing * 8.0 < referenced;
    let sql = if lookups {
        "SET enable_mergejoin = off"
    } else {
        "SET enable_mergejoin = on"
    };
    sqlx::raw_sql(sql).execute(conn).await?;
    Ok(())
}

/// The row count a staged table's last key build recorded (-1 when none is recorded).
async fn staged_rows(conn: &mut PgConnection, table: &str) -> Result<f32, BulkError> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE((SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)), -1)",
    )
    .bind(format!("{STAGING_SCHEMA}.{table}"))
    .fetch_one(conn)
    .await?)
}

/// Add `keys` (between staged tables committed by now) on the two connections at once: all
/// are added unvalidated first, then validated, those of one referencing table on the same
/// connection (validating locks the referencing table against itself, but only lightly locks
/// the referenced one, so keys of different tables are checked in parallel).
async fn add_in_parallel(
    conns: &mut [PgConnection; 2],
    keys: Vec<ForeignKey>,
) -> Result<(), BulkError> {
    if keys.is_empty() {
        return Ok(());
    }
    let [a, b] = conns;
    for key in &keys {
        execute(a, key.add(true)).await?;
    }
    let mut by_table: BTreeMap<String, Vec<ForeignKey>> = BTreeMap::new();
    for key in keys {
        by_table.entry(key.table.clone()).or_default().push(key);
    }
    // The biggest referencing tables first, each to the connection with less to check so far.
    let mut sized = Vec::new();
    for (table, keys) in by_table {
        let rows = staged_rows(a, &table).await?.max(0.0);
        sized.push((f64::from(rows) * keys.len() as f64, keys));
    }
    sized.sort_by(|x, y| y.0.total_cmp(&x.0));
    let mut lists: [(f64, Vec<ForeignKey>); 2] = [(0.0, Vec::new()), (0.0, Vec::new())];
    for (weight, keys) in sized {
        let lighter = usize::from(lists[1].0 < lists[0].0);
        lists[lighter].0 += weight;
        lists[lighter].1.extend(keys);
    }
    let [(_, for_a), (_, for_b)] = lists;
    let (checked_a, checked_b) = tokio::join!(validate(a, for_a), validate(b, for_b));
    checked_a?;
    checked_b
}

/// Validate foreign keys added unvalidated.
async fn validate(conn: &mut PgConnection, keys: Vec<ForeignKey>) -> Result<(), BulkError> {
    for key in &keys {
        plan_check(conn, key).await?;
        execute(
            conn,
            format!(
                "ALTER TABLE {STAGING_SCHEMA}.{} VALIDATE CONSTRAINT {}",
                key.table, key.name
            ),
        )
        .await?;
    }
    Ok(())
}

async fn build(conn: &mut PgConnection, builds: Vec<String>) -> Result<(), BulkError> {
    for sql in builds {
        execute(conn, sql).await?;
    }
    Ok(())
}

/// The sink, holding its open transaction.
pub struct BulkSink {
    target: Target,
    /// SQLite: the secondary indexes dropped for the load, recreated before the commit.
    restore: Vec<String>,
    /// Reused COPY buffer size.
    buffer_capacity: usize,
    batches: u64,
    abort_after: Option<u64>,
}

fn digest(token: &str) -> [u8; 32] {
    crate::crypto::sha256(token)
}

/// The real tables' names, to bind as a text array.
fn migration_tables() -> Vec<String> {
    MIGRATION_TABLES.iter().map(|t| (*t).to_owned()).collect()
}

impl BulkSink {
    /// Connect to `url` (the same database the store uses), make sure every table the
    /// migration writes is empty, and get ready to load.
    pub async fn begin(url: &str) -> Result<Self, BulkError> {
        let target = match Backend::from_url(url)? {
            Backend::Postgres => Target::Postgres(Box::new(Self::begin_postgres(url).await?)),
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
            buffer_capacity: 1 << 20,
            batches: 0,
            abort_after: std::env::var(ABORT_ENV).ok().and_then(|v| v.parse().ok()),
        };
        if let Target::Sqlite(conn) = &mut sink.target {
            let busy = non_empty_tables_sqlite(conn).await?;
            if !busy.is_empty() {
                return Err(not_empty(&busy));
            }
            sink.restore = drop_sqlite_indexes(conn).await?;
        }
        Ok(sink)
    }

    async fn begin_postgres(url: &str) -> Result<Staged, BulkError> {
        let mut main = PgConnection::connect(url).await?;
        gatehouse_importer::net::set_tcp_nodelay(&mut main).await?;
        // The foreign keys restored after the swap are checked with joins; on this connection
        // too, no parallel workers (see `load`).
        sqlx::raw_sql("SET max_parallel_workers_per_gather = 0")
            .execute(&mut main)
            .await?;
        let busy = non_empty_tables_pg(&mut main).await?;
        if !busy.is_empty() {
            return Err(not_empty(&busy));
        }
        let tables = migration_tables();
        let unsupported: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c
             WHERE c.relname = ANY($1) AND c.relnamespace = current_schema()::regnamespace
               AND (c.reloptions IS NOT NULL OR c.relrowsecurity
                    OR c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
                    OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal)
                    OR EXISTS (SELECT 1 FROM pg_publication_rel p WHERE p.prrelid = c.oid))
             ORDER BY 1",
        )
        .bind(&tables)
        .fetch_all(&mut main)
        .await?;
        if !unsupported.is_empty() {
            return Err(BulkError::Unsupported(unsupported.join(", ")));
        }
        let (schema, search_path): (String, String) =
            sqlx::query_as("SELECT quote_ident(current_schema()), current_setting('search_path')")
                .fetch_one(&mut main)
                .await?;
        // (table, name, definition, kind, referenced table)
        let constraints: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT c.conrelid::regclass::text, quote_ident(c.conname), pg_get_constraintdef(c.oid),
                    c.contype::text, c.confrelid::regclass::text
             FROM pg_constraint c
             WHERE (c.contype IN ('p', 'u') AND c.conrelid::regclass::text = ANY($1))
                OR (c.contype = 'f' AND (c.conrelid::regclass::text = ANY($1)
                                         OR c.confrelid::regclass::text = ANY($1)))
             ORDER BY c.conname",
        )
        .bind(&tables)
        .fetch_all(&mut main)
        .await?;
        // (table, definition) of the plain indexes, and the `ON schema.table` each names.
        let indexes: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT i.tablename::text, i.indexdef, quote_ident(i.schemaname) || '.' || quote_ident(i.tablename)
             FROM pg_indexes i
             WHERE i.schemaname = current_schema() AND i.tablename = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                               WHERE c.conname = i.indexname AND c.contype IN ('p', 'u'))
             ORDER BY i.indexname",
        )
        .bind(&tables)
        .fetch_all(&mut main)
        .await?;
        let grants: Vec<String> = sqlx::query_scalar(
            "SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, c.oid::regclass,
                           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                           CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
             FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.relname = ANY($1) AND c.relnamespace = current_schema()::regnamespace
               AND a.grantee <> c.relowner",
        )
        .bind(&tables)
        .fetch_all(&mut main)
        .await?;

        let ours = |table: &str| MIGRATION_TABLES.contains(&table);
        // Keys and indexes: the first loader's built in its transaction (while the second still
        // loads); the second's split over both connections afterwards, compat_sessions' on
        // one and the tokens' on the other (about even).
        let mut builds = [Vec::new(), Vec::new()];
        let mut late_builds = [Vec::new(), Vec::new()];
        let mut add_build = |table: &str, sql: String| match loader_of(table) {
            0 => builds[0].push(sql),
            _ => late_builds[usize::from(table != "compat_sessions")].push(sql),
        };
        // Foreign keys between the first loader's tables (it adds them), and the others.
        let mut early_foreign_keys = Vec::new();
        let mut late_foreign_keys = Vec::new();
        let mut outer_drops = Vec::new();
        let mut outer_foreign_keys = Vec::new();
        // Keys first, then plain indexes, in each loader.
        for (table, name, def, _, _) in constraints.iter().filter(|c| c.3 != "f") {
            add_build(
                table,
                format!("ALTER TABLE {STAGING_SCHEMA}.{table} ADD CONSTRAINT {name} {def}"),
            );
        }
        for (table, def, on) in &indexes {
            let from = format!(" ON {on} USING ");
            if def.matches(&from).count() != 1 {
                return Err(BulkError::Loader(format!(
                    "unexpected index definition: {def}"
                )));
            }
            let to = format!(" ON {STAGING_SCHEMA}.{table} USING ");
            add_build(table, def.replacen(&from, &to, 1));
        }
        for (table, name, def, _, referenced) in constraints.iter().filter(|c| c.3 == "f") {
            let add = format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}");
            match (ours(table), ours(referenced)) {
                (true, true) => {
                    let key = ForeignKey {
                        table: table.clone(),
                        name: name.clone(),
                        definition: def.clone(),
                        referenced: referenced.clone(),
                    };
                    if loader_of(table) + loader_of(referenced) == 0 {
                        early_foreign_keys.push(key);
                    } else {
                        late_foreign_keys.push(key);
                    }
                }
                (true, false) => outer_foreign_keys.push(add),
                (false, _) => {
                    outer_drops.push((table.clone(), name.clone()));
                    outer_foreign_keys.push(add);
                }
            }
        }

        // Whatever a killed run left behind.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {STAGING_SCHEMA} CASCADE; CREATE SCHEMA {STAGING_SCHEMA}"
        )))
        .execute(&mut main)
        .await?;
        sqlx::raw_sql("BEGIN").execute(&mut main).await?;

        let mut loaders = Vec::new();
        let mut foreign_keys = [early_foreign_keys, Vec::new()].into_iter();
        for (index, builds) in builds.into_iter().enumerate() {
            let creates = MIGRATION_TABLES
                .iter()
                .filter(|t| loader_of(t) == index)
                .map(|t| {
                    format!(
                        "CREATE TABLE {STAGING_SCHEMA}.{t} (LIKE {schema}.{t} INCLUDING ALL EXCLUDING INDEXES)"
                    )
                })
                .collect();
            let (jobs, receiver) = mpsc::channel(2);
            let plan = LoadPlan {
                url: url.to_owned(),
                search_path: search_path.clone(),
                creates,
                builds,
                foreign_keys: foreign_keys.next().unwrap_or_default(),
            };
            let task = tokio::spawn(load(plan, receiver));
            loaders.push(Loader {
                jobs,
                finishing: false,
                task: Some(task),
            });
        }
        Ok(Staged {
            main,
            schema,
            loaders,
            late_builds,
            late_foreign_keys,
            outer_drops,
            outer_foreign_keys,
            grants,
            swapped: false,
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
            Target::Sqlite(conn) => {
                for sql in std::mem::take(&mut self.restore) {
                    tracing::debug!("rebuilding: {sql}");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            }
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
                Target::Sqlite(conn) => {
                    sqlx::query(sql).bind(id.to_string()).execute(conn).await?;
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
            Target::Postgres(staged) => {
                let mut main = staged.main;
                sqlx::raw_sql(how).execute(&mut main).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {STAGING_SCHEMA} CASCADE"
                )))
                .execute(&mut main)
                .await?;
                main.close().await?;
            }
            Target::Sqlite(mut conn) => {
                sqlx::raw_sql(how).execute(&mut conn).await?;
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
            Target::Postgres(staged) => {
                // Binary: the server converts no text (numbers, escapes, hex bytea), which
                // measured a quarter to a third cheaper than the text format for these tables.
                let sql = format!(
                    "COPY {STAGING_SCHEMA}.{table} ({}) FROM STDIN WITH (FORMAT binary, FREEZE)",
                    columns.join(", "),
                );
                // Encoded here, sent by the table's loader while the next batch is encoded.
                let mut data = Vec::with_capacity(self.buffer_capacity);
                data.extend_from_slice(COPY_BINARY_HEADER);
                // Fits: N is a handful of columns.
                let fields = (N as i16).to_be_bytes();
                for row in rows {
                    data.extend_from_slice(&fields);
                    for cell in &row {
                        copy_binary(&mut data, cell)?;
                    }
                }
                data.extend_from_slice(&(-1i16).to_be_bytes());
                self.buffer_capacity = self.buffer_capacity.max(data.len());
                let loader = &mut staged.loaders[loader_of(table)];
                if loader.jobs.send(Job::Copy { sql, data }).await.is_err() {
                    return Err(loader.failure().await);
                }
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

/// In the main transaction: lock the real tables and check they are still empty.
async fn prepare_swap(main: &mut PgConnection, real: &[String]) -> Result<(), BulkError> {
    // Nothing may write the real tables between the check and the swap.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        real.join(", ")
    )))
    .execute(&mut *main)
    .await?;
    let busy = non_empty_tables_pg(main).await?;
    if !busy.is_empty() {
        return Err(not_empty(&busy));
    }
    Ok(())
}

impl Staged {
    async fn swap(&mut self) -> Result<(), BulkError> {
        if self.swapped {
            return Ok(());
        }
        self.swapped = true;
        let mut conns = Vec::new();
        for loader in &mut self.loaders {
            conns.push(loader.finish().await?);
        }
        let real: Vec<String> = MIGRATION_TABLES
            .iter()
            .map(|t| format!("{}.{t}", self.schema))
            .collect();
        let late_keys = std::mem::take(&mut self.late_foreign_keys);
        let [late_a, late_b] = std::mem::take(&mut self.late_builds);
        // The second loader's keys build on the two loading connections, then the foreign keys
        // that involve its tables are checked on both, while the main connection locks the
        // real tables.
        let late = async {
            let Ok(mut pair) = <[PgConnection; 2]>::try_from(conns) else {
                return Err(BulkError::Loader(
                    "expected two loading connections".to_owned(),
                ));
            };
            {
                let [a, b] = &mut pair;
                let (built_a, built_b) = tokio::join!(build(a, late_a), build(b, late_b));
                built_a?;
                built_b?;
            }
            add_in_parallel(&mut pair, late_keys).await?;
            Ok(pair)
        };
        let (prepared, late) = tokio::join!(prepare_swap(&mut self.main, &real), late);
        prepared?;
        for conn in late? {
            conn.close().await?;
        }
        let main = &mut self.main;
        for (table, name) in &self.outer_drops {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} DROP CONSTRAINT {name}"
            )))
            .execute(&mut *main)
            .await?;
        }
        // No CASCADE: anything else depending on the real tables (a view, say) stops the
        // swap instead of vanishing.
        let mut swap = format!("DROP TABLE {};", real.join(", "));
        for table in MIGRATION_TABLES {
            swap.push_str(&format!(
                " ALTER TABLE {STAGING_SCHEMA}.{table} SET SCHEMA {};",
                self.schema
            ));
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(swap))
            .execute(&mut *main)
            .await?;
        for sql in self.outer_foreign_keys.iter().chain(&self.grants) {
            tracing::debug!("restoring: {sql}");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut *main)
                .await?;
        }
        Ok(())
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

async fn non_empty_tables_pg(conn: &mut PgConnection) -> Result<Vec<(String, i64)>, BulkError> {
    let counts = sqlx::query_as(count_rows_sql()).fetch_all(conn).await?;
    Ok(only_busy(counts))
}

async fn non_empty_tables_sqlite(
    conn: &mut SqliteConnection,
) -> Result<Vec<(String, i64)>, BulkError> {
    let counts = sqlx::query_as(count_rows_sql()).fetch_all(conn).await?;
    Ok(only_busy(counts))
}

/// SQLite: drop the secondary indexes (primary and unique keys are part of the tables and
/// stay) and return the SQL that recreates them. Filling an index once from a sorted scan
/// beats updating it at random for every row; SQLite's DDL is transactional, so a crash
/// restores them too.
async fn drop_sqlite_indexes(conn: &mut SqliteConnection) -> Result<Vec<String>, BulkError> {
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
    Ok(indexes.into_iter().map(|(_, sql)| sql).collect())
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

    async fn users_done(&mut self) -> Result<(), BulkError> {
        if let Target::Postgres(staged) = &mut self.target {
            staged.loaders[0].start_finishing().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BulkError> {
        Ok(())
    }
}

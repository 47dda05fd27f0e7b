//! PostgreSQL: the rows go, with binary `COPY … FROM STDIN` ([`copy`]), into copies of the
//! tables in a staging schema, on two connections in parallel ([`loader`]: the user tables on
//! one, the sessions and tokens on the other); each builds its tables' keys and indexes, adds
//! the foreign keys between them (validating every row) and commits, and the foreign keys
//! across the two sets are then validated on both connections at once ([`keys`]). Then ONE
//! short transaction checks that the real tables are still empty, drops them and moves the
//! staged ones into their place, and restores the foreign keys other tables had on them
//! ([`swap`]). A crash or kill before that transaction commits leaves the real tables
//! untouched; the staging schema is dropped at the start and the end of every run.

mod copy;
mod keys;
mod loader;
mod swap;

use sqlx::{Connection, PgConnection};
use tokio::sync::mpsc;

use self::{
    keys::ForeignKey,
    loader::{Job, LoadPlan, Loader},
};
use super::{BulkError, MIGRATION_TABLES, Rows, not_empty};

/// The schema the load goes into. Only this module uses it; it is dropped, with whatever a
/// killed run left in it, before and after every run.
pub const STAGING_SCHEMA: &str = "syn2mas_staging";

/// Which of the two loading connections fills a table. The importer sends users, emails and
/// links first, then sessions and tokens: the first connection builds its keys while the
/// second still loads.
fn loader_of(table: &str) -> usize {
    usize::from(table.starts_with("compat_"))
}

/// The main connection (in a transaction from [`Staged::begin`]; it does the swap) and the two
/// loading connections.
pub(super) struct Staged {
    pub(super) main: PgConnection,
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
    /// Reused COPY buffer size.
    buffer_capacity: usize,
    swapped: bool,
}

impl Staged {
    /// Check the real tables, read their keys, indexes, foreign keys and grants, create the
    /// staging schema and start the two loading connections.
    pub(super) async fn begin(url: &str) -> Result<Self, BulkError> {
        let mut main = PgConnection::connect(url).await?;
        gatehouse_importer::net::set_tcp_nodelay(&mut main).await?;
        // The foreign keys restored after the swap are checked with joins; on this connection
        // too, no parallel workers (see `loader::load` for the figure).
        sqlx::raw_sql("SET max_parallel_workers_per_gather = 0")
            .execute(&mut main)
            .await?;
        let busy = swap::non_empty_tables(&mut main).await?;
        if !busy.is_empty() {
            return Err(not_empty(&busy));
        }
        let tables: Vec<String> = MIGRATION_TABLES.iter().map(|t| (*t).to_owned()).collect();
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
            loaders.push(Loader::start(plan, jobs, receiver));
        }
        Ok(Self {
            main,
            schema,
            loaders,
            late_builds,
            late_foreign_keys,
            outer_drops,
            outer_foreign_keys,
            grants,
            buffer_capacity: 1 << 20,
            swapped: false,
        })
    }

    /// Encode `rows` for binary COPY and hand them to their table's loader, which sends them
    /// while the next batch is encoded.
    pub(super) async fn copy<const N: usize>(
        &mut self,
        rows: Rows<'_, N>,
    ) -> Result<(), BulkError> {
        let sql = format!(
            "COPY {STAGING_SCHEMA}.{} ({}) FROM STDIN WITH (FORMAT binary, FREEZE)",
            rows.table,
            rows.columns.join(", "),
        );
        let loader = loader_of(rows.table);
        let data = copy::encode(rows.rows, self.buffer_capacity)?;
        self.buffer_capacity = self.buffer_capacity.max(data.len());
        self.loaders[loader].send(Job::Copy { sql, data }).await
    }

    /// The user tables are all sent: their loader builds their keys while the sessions and
    /// tokens still load.
    pub(super) async fn users_done(&mut self) -> Result<(), BulkError> {
        self.loaders[0].start_finishing().await
    }

    /// `how` is `COMMIT` or `ROLLBACK`; the staging schema goes either way.
    pub(super) async fn end(self, how: &'static str) -> Result<(), BulkError> {
        let mut main = self.main;
        sqlx::raw_sql(how).execute(&mut main).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {STAGING_SCHEMA} CASCADE"
        )))
        .execute(&mut main)
        .await?;
        main.close().await?;
        Ok(())
    }
}

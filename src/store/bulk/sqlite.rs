//! SQLite: multi-row `INSERT`s of 100 rows per statement in ONE transaction on a native
//! connection, with the tables' secondary indexes dropped for the load and rebuilt before the
//! commit.

use std::str::FromStr;

use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection, sqlite::SqliteConnectOptions};

use super::{BulkError, Cell, MIGRATION_TABLES, Rows, count_rows_sql, not_empty, only_busy};

/// Rows per INSERT statement (measured sweet spot with sqlx).
const ROWS_PER_STATEMENT: usize = 100;

/// The connection, in the load's transaction.
pub(super) struct Loading {
    pub(super) conn: SqliteConnection,
    /// The secondary indexes dropped for the load, recreated before the commit.
    restore: Vec<String>,
}

impl Loading {
    pub(super) async fn begin(url: &str) -> Result<Self, BulkError> {
        // A bounded 64 MiB page cache (the default is 2 MiB) keeps the index pages of a large
        // load in memory instead of spilling them into the WAL mid-transaction.
        let options = SqliteConnectOptions::from_str(url)?
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(10))
            .pragma("cache_size", "-65536");
        let mut conn = SqliteConnection::connect_with(&options).await?;
        sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut conn).await?;
        let counts = sqlx::query_as(count_rows_sql())
            .fetch_all(&mut conn)
            .await?;
        let busy = only_busy(counts);
        if !busy.is_empty() {
            return Err(not_empty(&busy));
        }
        let restore = drop_indexes(&mut conn).await?;
        Ok(Self { conn, restore })
    }

    pub(super) async fn insert<const N: usize>(
        &mut self,
        rows: Rows<'_, N>,
    ) -> Result<(), BulkError> {
        let Rows {
            table,
            columns,
            rows,
        } = rows;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut query: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("INSERT INTO {table} ({}) ", columns.join(", ")));
            query.push_values(rows.by_ref().take(ROWS_PER_STATEMENT), |mut values, row| {
                for cell in row {
                    match cell {
                        Cell::Text(text) => values.push_bind(text.to_owned()),
                        Cell::OptText(text) => values.push_bind(text.map(str::to_owned)),
                        Cell::Int(value) => values.push_bind(value),
                        Cell::OptInt(value) => values.push_bind(value),
                        Cell::Int4(value) => values.push_bind(value),
                        Cell::Id(id) => values.push_bind(id.to_string()),
                        Cell::Digest(bytes) => values.push_bind(bytes.to_vec()),
                    };
                }
            });
            query.build().execute(&mut self.conn).await?;
        }
        Ok(())
    }

    pub(super) async fn rebuild_indexes(&mut self) -> Result<(), BulkError> {
        for sql in std::mem::take(&mut self.restore) {
            tracing::debug!("rebuilding: {sql}");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut self.conn)
                .await?;
        }
        Ok(())
    }

    /// `how` is `COMMIT` or `ROLLBACK`.
    pub(super) async fn end(mut self, how: &'static str) -> Result<(), BulkError> {
        sqlx::raw_sql(how).execute(&mut self.conn).await?;
        self.conn.close().await?;
        Ok(())
    }
}

/// Drop the secondary indexes (primary and unique keys are part of the tables and stay) and
/// return the SQL that recreates them. Filling an index once from a sorted scan beats updating
/// it at random for every row; SQLite's DDL is transactional, so a crash restores them too.
async fn drop_indexes(conn: &mut SqliteConnection) -> Result<Vec<String>, BulkError> {
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

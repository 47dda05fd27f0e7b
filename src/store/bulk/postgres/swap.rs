//! The end of a PostgreSQL load: the second loader's keys are built and the foreign keys that
//! involve its tables checked, while the main transaction locks the real tables and checks
//! they are still empty; then the real tables are dropped, the staged ones moved into their
//! place, and the foreign keys and grants of the real tables restored.

use sqlx::{Connection, PgConnection};

use super::{STAGING_SCHEMA, Staged, keys::add_in_parallel, loader::build};
use crate::store::bulk::{BulkError, MIGRATION_TABLES, count_rows_sql, not_empty, only_busy};

impl Staged {
    pub(in crate::store::bulk) async fn swap(&mut self) -> Result<(), BulkError> {
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

/// In the main transaction: lock the real tables and check they are still empty.
async fn prepare_swap(main: &mut PgConnection, real: &[String]) -> Result<(), BulkError> {
    // Nothing may write the real tables between the check and the swap.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        real.join(", ")
    )))
    .execute(&mut *main)
    .await?;
    let busy = non_empty_tables(main).await?;
    if !busy.is_empty() {
        return Err(not_empty(&busy));
    }
    Ok(())
}

/// The migration tables that have rows, with their counts.
pub(super) async fn non_empty_tables(
    conn: &mut PgConnection,
) -> Result<Vec<(String, i64)>, BulkError> {
    let counts = sqlx::query_as(count_rows_sql()).fetch_all(conn).await?;
    Ok(only_busy(counts))
}

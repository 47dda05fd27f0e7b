//! The foreign keys between migrated tables, added to the staged tables once their keys are
//! built: each check is one anti-join, planned for the sizes at hand, and the checks of
//! different referencing tables run on both loading connections at once.

use std::collections::BTreeMap;

use sqlx::PgConnection;

use super::{STAGING_SCHEMA, loader::execute};
use crate::store::bulk::BulkError;

/// A foreign key between two migrated tables, as the real tables have it.
pub(super) struct ForeignKey {
    /// The referencing table (unqualified, as `regclass` prints it).
    pub(super) table: String,
    /// The constraint's name, quoted.
    pub(super) name: String,
    /// `FOREIGN KEY (…) REFERENCES …` (the referenced table unqualified: the staging schema
    /// comes first in the search path when it is added).
    pub(super) definition: String,
    /// The referenced table.
    pub(super) referenced: String,
}

impl ForeignKey {
    pub(super) fn add(&self, not_valid: bool) -> String {
        format!(
            "ALTER TABLE {STAGING_SCHEMA}.{} ADD CONSTRAINT {} {}{}",
            self.table,
            self.name,
            self.definition,
            if not_valid { " NOT VALID" } else { "" }
        )
    }
}

/// Choose how the next foreign key check joins: when the referencing table has far fewer rows
/// than the referenced one, one index lookup per row beats reading the whole referenced key
/// (refresh tokens against sessions at 1M users: 96 ms instead of 256 ms); otherwise the merge
/// join. The row counts are those the key builds recorded.
pub(super) async fn plan_check(conn: &mut PgConnection, key: &ForeignKey) -> Result<(), BulkError> {
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
pub(super) async fn add_in_parallel(
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

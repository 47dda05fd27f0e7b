//! The `policy_data` table: versions of the policy data set through the admin API. Rows are
//! only added; the newest (highest ULID, so latest creation) is in force.

use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{get_time, get_ulid, ms},
};
use crate::domain::policy_data::StoredPolicyData;

pub struct PolicyDataRepo<'c, M> {
    conn: Conn<'c, M>,
}

const COLUMNS: &str = "policy_data_id, created_at, data";

fn from_row(row: &AnyRow) -> Result<StoredPolicyData, StoreError> {
    let data: String = row.try_get("data")?;
    Ok(StoredPolicyData {
        id: get_ulid(row, "policy_data_id")?,
        created_at: get_time(row, "created_at")?,
        data: serde_json::from_str(&data).map_err(|e| StoreError::Corrupt {
            column: "data",
            detail: e.to_string(),
        })?,
    })
}

impl<'c, M> PolicyDataRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    /// The version in force, if any was set: one lookup on the primary key's index.
    pub async fn latest(&mut self) -> Result<Option<StoredPolicyData>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM policy_data ORDER BY policy_data_id DESC LIMIT 1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_optional(&mut *self.conn)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    pub async fn find(&mut self, id: Ulid) -> Result<Option<StoredPolicyData>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM policy_data WHERE policy_data_id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }
}

impl PolicyDataRepo<'_, Write<'_>> {
    pub async fn add(&mut self, row: &StoredPolicyData) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO policy_data (policy_data_id, created_at, data) VALUES ($1, $2, $3)",
        )
        .bind(row.id.to_string())
        .bind(ms(row.created_at))
        .bind(row.data.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }
}

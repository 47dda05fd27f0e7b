//! Browser sessions (`user_sessions`): a person signed in to Gatehouse's own pages.

use chrono::{DateTime, Utc};
use sqlx::Row;
use ulid::Ulid;

use super::{
    Conn, StoreError,
    codec::{get_opt_time, get_time, get_ulid, ms, opt_ms},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub id: Ulid,
    pub user_id: Ulid,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_active_ip: Option<String>,
}

pub struct BrowserSessionRepo<'c> {
    conn: Conn<'c>,
}

impl<'c> BrowserSessionRepo<'c> {
    pub(crate) fn new(conn: Conn<'c>) -> Self {
        Self { conn }
    }

    pub async fn add(&mut self, session: &BrowserSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO user_sessions (user_session_id, user_id, created_at, finished_at, user_agent, last_active_at, last_active_ip)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session.id.to_string())
        .bind(session.user_id.to_string())
        .bind(ms(session.created_at))
        .bind(opt_ms(session.finished_at))
        .bind(session.user_agent.as_deref())
        .bind(opt_ms(session.last_active_at))
        .bind(session.last_active_ip.as_deref())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    pub async fn find(&mut self, id: Ulid) -> Result<Option<BrowserSession>, StoreError> {
        let row = sqlx::query(
            "SELECT user_session_id, user_id, created_at, finished_at, user_agent, last_active_at, last_active_ip
             FROM user_sessions WHERE user_session_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?;
        row.map(|row| {
            Ok(BrowserSession {
                id: get_ulid(&row, "user_session_id")?,
                user_id: get_ulid(&row, "user_id")?,
                created_at: get_time(&row, "created_at")?,
                finished_at: get_opt_time(&row, "finished_at")?,
                user_agent: row.try_get("user_agent")?,
                last_active_at: get_opt_time(&row, "last_active_at")?,
                last_active_ip: row.try_get("last_active_ip")?,
            })
        })
        .transpose()
    }

    pub async fn finish(&mut self, id: Ulid, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE user_sessions SET finished_at = $1 WHERE user_session_id = $2 AND finished_at IS NULL")
            .bind(ms(now))
            .bind(id.to_string())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }
}

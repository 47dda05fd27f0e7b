//! Browser sessions (`user_sessions`): a person signed in to Gatehouse's own pages.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{get_opt_time, get_time, get_ulid, ms, opt_ms},
    pagination::{self, Conditions, Page, Pagination, SessionTimes, fetch_page},
};
use crate::domain::browser_sessions::{BrowserSession, BrowserSessionLimits};

/// Filters of the admin browser session list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSessionFilter {
    pub user: Option<Ulid>,
    /// `Some(true)`: only active sessions; `Some(false)`: only finished ones.
    pub active: Option<bool>,
    /// Created / last active strictly after or before.
    pub times: SessionTimes,
}

impl UserSessionFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        if let Some(user) = self.user {
            c.text("s.user_id = {}", user.to_string());
        }
        match self.active {
            Some(true) => c.push("s.finished_at IS NULL"),
            Some(false) => c.push("s.finished_at IS NOT NULL"),
            None => {}
        }
        c.times("s", &self.times);
        c
    }
}

const COLUMNS: &str = "s.user_session_id, s.user_id, s.created_at, s.finished_at, s.user_agent, s.last_active_at, s.last_active_ip";

fn session_from_row(row: &AnyRow) -> Result<BrowserSession, StoreError> {
    Ok(BrowserSession {
        id: get_ulid(row, "user_session_id")?,
        user_id: get_ulid(row, "user_id")?,
        created_at: get_time(row, "created_at")?,
        finished_at: get_opt_time(row, "finished_at")?,
        user_agent: row.try_get("user_agent")?,
        last_active_at: get_opt_time(row, "last_active_at")?,
        last_active_ip: row.try_get("last_active_ip")?,
    })
}

pub struct BrowserSessionRepo<'c, M> {
    conn: Conn<'c, M>,
}

impl<'c, M> BrowserSessionRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    pub async fn find(&mut self, id: Ulid) -> Result<Option<BrowserSession>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM user_sessions s WHERE s.user_session_id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    /// The user's sessions that are not finished, oldest first.
    pub async fn active_sessions(
        &mut self,
        user_id: Ulid,
    ) -> Result<Vec<BrowserSession>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM user_sessions s
             WHERE s.user_id = $1 AND s.finished_at IS NULL ORDER BY s.user_session_id"
        )))
        .bind(user_id.to_string())
        .fetch_all(&mut *self.conn)
        .await?
        .iter()
        .map(session_from_row)
        .collect()
    }

    pub async fn list(
        &mut self,
        filter: &UserSessionFilter,
        pagination: &Pagination,
    ) -> Result<Page<BrowserSession>, StoreError> {
        fetch_page(
            &mut self.conn,
            &format!("SELECT {COLUMNS} FROM user_sessions s"),
            "s.user_session_id",
            filter.conditions(),
            pagination,
            session_from_row,
        )
        .await
    }

    pub async fn count(&mut self, filter: &UserSessionFilter) -> Result<u64, StoreError> {
        pagination::count(&mut self.conn, "FROM user_sessions s", &filter.conditions()).await
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl BrowserSessionRepo<'_, Write<'_>> {
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

    /// Finish the session; false when it was finished already.
    pub async fn finish(&mut self, id: Ulid, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE user_sessions SET finished_at = $1 WHERE user_session_id = $2 AND finished_at IS NULL",
        )
        .bind(ms(now))
        .bind(id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finish every open session of the user; returns how many.
    pub async fn finish_all(
        &mut self,
        user_id: Ulid,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE user_sessions SET finished_at = $1 WHERE user_id = $2 AND finished_at IS NULL",
        )
        .bind(ms(now))
        .bind(user_id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected())
    }

    /// Finish the sessions that outlived `limits` at `now` (they already sign nobody in; this
    /// makes their state say so). Returns how many.
    pub async fn finish_expired(
        &mut self,
        limits: &BrowserSessionLimits,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE user_sessions SET finished_at = $1
             WHERE finished_at IS NULL
               AND (created_at < $2 OR COALESCE(last_active_at, created_at) < $3)",
        )
        .bind(ms(now))
        .bind(ms(limits.started_before(now)))
        .bind(ms(limits.seen_before(now)))
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected())
    }

    /// Record that the session was used at `at` (from `ip`, when known).
    pub async fn record_activity(
        &mut self,
        id: Ulid,
        at: DateTime<Utc>,
        ip: Option<&str>,
    ) -> Result<(), StoreError> {
        super::record_session_activity(
            &mut self.conn,
            "user_sessions",
            "user_session_id",
            &[super::SessionActivity {
                session_id: id,
                at,
                ip,
            }],
        )
        .await
    }
}

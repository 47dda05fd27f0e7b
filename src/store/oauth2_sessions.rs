//! OAuth 2.0 sessions (`oauth2_sessions`) and the ending of their tokens
//! (`oauth2_access_tokens`, `oauth2_refresh_tokens`).

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{get_opt_time, get_opt_ulid, get_time, get_ulid, ms, opt_ms},
    pagination::{self, Conditions, Page, Pagination, fetch_page, like_escape},
};
use crate::domain::{oauth2_sessions::OAuth2Session, scopes::Scope};

/// Filters of the admin OAuth 2.0 session list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuth2SessionFilter {
    pub user: Option<Ulid>,
    pub client: Option<Ulid>,
    /// `Some(true)`: only sessions of static clients; `Some(false)`: of dynamic ones.
    pub static_client: Option<bool>,
    pub user_session: Option<Ulid>,
    /// Sessions whose scope includes this scope token.
    pub scope: Option<String>,
    pub active: Option<bool>,
}

impl OAuth2SessionFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        if let Some(user) = self.user {
            c.text("o.user_id = {}", user.to_string());
        }
        if let Some(client) = self.client {
            c.text("o.oauth2_client_id = {}", client.to_string());
        }
        if let Some(is_static) = self.static_client {
            c.int(
                "o.oauth2_client_id IN (SELECT k.oauth2_client_id FROM oauth2_clients k WHERE k.is_static = {})",
                i64::from(is_static),
            );
        }
        if let Some(user_session) = self.user_session {
            c.text("o.user_session_id = {}", user_session.to_string());
        }
        if let Some(scope) = &self.scope {
            c.text(
                "(' ' || o.scope_list || ' ') LIKE {} ESCAPE '\\'",
                format!("% {} %", like_escape(scope)),
            );
        }
        match self.active {
            Some(true) => c.push("o.finished_at IS NULL"),
            Some(false) => c.push("o.finished_at IS NOT NULL"),
            None => {}
        }
        c
    }
}

const OAUTH2_SESSION_COLUMNS: &str = "o.oauth2_session_id, o.oauth2_client_id, o.user_id, o.user_session_id, o.scope_list, o.created_at, o.finished_at, o.last_active_at, o.last_active_ip, o.user_agent, o.human_name";

fn oauth2_session_from_row(row: &AnyRow) -> Result<OAuth2Session, StoreError> {
    Ok(OAuth2Session {
        id: get_ulid(row, "oauth2_session_id")?,
        client_id: get_ulid(row, "oauth2_client_id")?,
        user_id: get_opt_ulid(row, "user_id")?,
        user_session_id: get_opt_ulid(row, "user_session_id")?,
        scope: Scope::from_stored(&row.try_get::<String, _>("scope_list")?),
        created_at: get_time(row, "created_at")?,
        finished_at: get_opt_time(row, "finished_at")?,
        last_active_at: get_opt_time(row, "last_active_at")?,
        last_active_ip: row.try_get("last_active_ip")?,
        user_agent: row.try_get("user_agent")?,
        human_name: row.try_get("human_name")?,
    })
}

pub struct OAuth2SessionRepo<'c, M> {
    conn: Conn<'c, M>,
}

impl<'c, M> OAuth2SessionRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    pub async fn find(&mut self, id: Ulid) -> Result<Option<OAuth2Session>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {OAUTH2_SESSION_COLUMNS} FROM oauth2_sessions o WHERE o.oauth2_session_id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(oauth2_session_from_row)
        .transpose()
    }

    pub async fn list(
        &mut self,
        filter: &OAuth2SessionFilter,
        pagination: &Pagination,
    ) -> Result<Page<OAuth2Session>, StoreError> {
        fetch_page(
            &mut self.conn,
            &format!("SELECT {OAUTH2_SESSION_COLUMNS} FROM oauth2_sessions o"),
            "o.oauth2_session_id",
            filter.conditions(),
            pagination,
            oauth2_session_from_row,
        )
        .await
    }

    pub async fn count(&mut self, filter: &OAuth2SessionFilter) -> Result<u64, StoreError> {
        pagination::count(
            &mut self.conn,
            "FROM oauth2_sessions o",
            &filter.conditions(),
        )
        .await
    }

    /// The user's sessions that are not finished, oldest first.
    pub async fn active_sessions(
        &mut self,
        user_id: Ulid,
    ) -> Result<Vec<OAuth2Session>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {OAUTH2_SESSION_COLUMNS} FROM oauth2_sessions o
             WHERE o.user_id = $1 AND o.finished_at IS NULL ORDER BY o.oauth2_session_id"
        )))
        .bind(user_id.to_string())
        .fetch_all(&mut *self.conn)
        .await?
        .iter()
        .map(oauth2_session_from_row)
        .collect()
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl OAuth2SessionRepo<'_, Write<'_>> {
    pub async fn add(&mut self, session: &OAuth2Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth2_sessions (oauth2_session_id, oauth2_client_id, user_id, user_session_id, scope_list,
                 created_at, finished_at, last_active_at, last_active_ip, user_agent, human_name)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(session.id.to_string())
        .bind(session.client_id.to_string())
        .bind(session.user_id.map(|id| id.to_string()))
        .bind(session.user_session_id.map(|id| id.to_string()))
        .bind(session.scope.to_string())
        .bind(ms(session.created_at))
        .bind(opt_ms(session.finished_at))
        .bind(opt_ms(session.last_active_at))
        .bind(session.last_active_ip.as_deref())
        .bind(session.user_agent.as_deref())
        .bind(session.human_name.as_deref())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Finish the session and revoke its unrevoked access and refresh tokens.
    pub async fn finish(
        &mut self,
        session: &mut OAuth2Session,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.ends_tokens_of(session.id);
        self.finish_where("oauth2_session_id", session.id, now)
            .await?;
        session.finished_at.get_or_insert(now);
        Ok(())
    }

    /// Finish every active session of the user and revoke their tokens; returns how many.
    pub async fn finish_all(
        &mut self,
        user_id: Ulid,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.conn.ends_tokens_of(user_id);
        self.finish_where("user_id", user_id, now).await
    }

    /// Finish the sessions whose `column` (a fixed name chosen above) is `id`, revoking their
    /// tokens first (while the sessions are still findable as active).
    async fn finish_where(
        &mut self,
        column: &'static str,
        id: Ulid,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let id = id.to_string();
        for table in ["oauth2_access_tokens", "oauth2_refresh_tokens"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET revoked_at = $1
                 WHERE revoked_at IS NULL AND oauth2_session_id IN
                   (SELECT oauth2_session_id FROM oauth2_sessions WHERE {column} = $2 AND finished_at IS NULL)"
            )))
            .bind(ms(now))
            .bind(&id)
            .execute(&mut *self.conn)
            .await?;
        }
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE oauth2_sessions SET finished_at = $1 WHERE {column} = $2 AND finished_at IS NULL"
        )))
        .bind(ms(now))
        .bind(&id)
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected())
    }

    /// Finish the active sessions last used (or, never used, started) before `before`, revoking
    /// their tokens; returns them as they were.
    pub async fn finish_inactive(
        &mut self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OAuth2Session>, StoreError> {
        let sessions: Vec<OAuth2Session> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {OAUTH2_SESSION_COLUMNS} FROM oauth2_sessions o
             WHERE o.finished_at IS NULL AND COALESCE(o.last_active_at, o.created_at) < $1"
        )))
        .bind(ms(before))
        .fetch_all(&mut *self.conn)
        .await?
        .iter()
        .map(oauth2_session_from_row)
        .collect::<Result<_, _>>()?;
        for session in &sessions {
            self.finish(&mut session.clone(), now).await?;
        }
        Ok(sessions)
    }
}

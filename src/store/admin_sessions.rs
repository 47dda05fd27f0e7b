//! What the admin API lists of browser sessions (`user_sessions`) and OAuth 2.0 sessions
//! (`oauth2_sessions`): filtered, paginated reads, and finishing one.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError,
    browser_sessions::BrowserSession,
    codec::{get_opt_time, get_opt_ulid, get_time, get_ulid, ms, opt_ms},
    pagination::{self, Conditions, Page, Pagination, fetch_page, like_escape},
};

/// Filters of the admin browser session list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSessionFilter {
    pub user: Option<Ulid>,
    /// `Some(true)`: only active sessions; `Some(false)`: only finished ones.
    pub active: Option<bool>,
    pub created_before: Option<DateTime<Utc>>,
    pub created_after: Option<DateTime<Utc>>,
    pub last_active_before: Option<DateTime<Utc>>,
    pub last_active_after: Option<DateTime<Utc>>,
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
        if let Some(at) = self.created_before {
            c.int("s.created_at < {}", ms(at));
        }
        if let Some(at) = self.created_after {
            c.int("s.created_at > {}", ms(at));
        }
        if let Some(at) = self.last_active_before {
            c.int("s.last_active_at < {}", ms(at));
        }
        if let Some(at) = self.last_active_after {
            c.int("s.last_active_at > {}", ms(at));
        }
        c
    }
}

const USER_SESSION_COLUMNS: &str = "s.user_session_id, s.user_id, s.created_at, s.finished_at, s.user_agent, s.last_active_at, s.last_active_ip";

fn user_session_from_row(row: &AnyRow) -> Result<BrowserSession, StoreError> {
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

/// An OAuth 2.0 session: a client's grant, for a user or (client credentials) for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Session {
    pub id: Ulid,
    pub client_id: Ulid,
    pub user_id: Option<Ulid>,
    pub user_session_id: Option<Ulid>,
    /// Space-separated scope tokens.
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_active_ip: Option<String>,
    pub user_agent: Option<String>,
    pub human_name: Option<String>,
}

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
        scope: row.try_get("scope_list")?,
        created_at: get_time(row, "created_at")?,
        finished_at: get_opt_time(row, "finished_at")?,
        last_active_at: get_opt_time(row, "last_active_at")?,
        last_active_ip: row.try_get("last_active_ip")?,
        user_agent: row.try_get("user_agent")?,
        human_name: row.try_get("human_name")?,
    })
}

pub struct AdminSessionRepo<'c> {
    conn: Conn<'c>,
}

impl<'c> AdminSessionRepo<'c> {
    pub(crate) fn new(conn: Conn<'c>) -> Self {
        Self { conn }
    }

    pub async fn list_user_sessions(
        &mut self,
        filter: &UserSessionFilter,
        pagination: &Pagination,
    ) -> Result<Page<BrowserSession>, StoreError> {
        fetch_page(
            &mut self.conn,
            &format!("SELECT {USER_SESSION_COLUMNS} FROM user_sessions s"),
            "s.user_session_id",
            filter.conditions(),
            pagination,
            user_session_from_row,
        )
        .await
    }

    pub async fn count_user_sessions(
        &mut self,
        filter: &UserSessionFilter,
    ) -> Result<u64, StoreError> {
        pagination::count(&mut self.conn, "FROM user_sessions s", &filter.conditions()).await
    }

    pub async fn add_oauth2_session(&mut self, session: &OAuth2Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth2_sessions (oauth2_session_id, oauth2_client_id, user_id, user_session_id, scope_list,
                 created_at, finished_at, last_active_at, last_active_ip, user_agent, human_name)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(session.id.to_string())
        .bind(session.client_id.to_string())
        .bind(session.user_id.map(|id| id.to_string()))
        .bind(session.user_session_id.map(|id| id.to_string()))
        .bind(&session.scope)
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

    pub async fn find_oauth2_session(
        &mut self,
        id: Ulid,
    ) -> Result<Option<OAuth2Session>, StoreError> {
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

    pub async fn list_oauth2_sessions(
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

    pub async fn count_oauth2_sessions(
        &mut self,
        filter: &OAuth2SessionFilter,
    ) -> Result<u64, StoreError> {
        pagination::count(
            &mut self.conn,
            "FROM oauth2_sessions o",
            &filter.conditions(),
        )
        .await
    }

    /// Finish the session and revoke its unrevoked access and refresh tokens.
    pub async fn finish_oauth2_session(
        &mut self,
        session: &mut OAuth2Session,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.ends_tokens_of(session.id);
        let id = session.id.to_string();
        sqlx::query(
            "UPDATE oauth2_sessions SET finished_at = $1 WHERE oauth2_session_id = $2 AND finished_at IS NULL",
        )
        .bind(ms(now))
        .bind(&id)
        .execute(&mut *self.conn)
        .await?;
        for table in ["oauth2_access_tokens", "oauth2_refresh_tokens"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET revoked_at = $1 WHERE oauth2_session_id = $2 AND revoked_at IS NULL"
            )))
            .bind(ms(now))
            .bind(&id)
            .execute(&mut *self.conn)
            .await?;
        }
        session.finished_at.get_or_insert(now);
        Ok(())
    }
}

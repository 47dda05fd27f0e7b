//! Personal sessions and their tokens (`personal_sessions`, `personal_access_tokens`). A session
//! has at most one valid token: issuing a new one revokes the previous.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{get_opt_time, get_opt_ulid, get_time, get_ulid, ms, opt_ms},
    compat::token_digest,
    pagination::{Conditions, Page, Pagination, count, fetch_page, like_escape},
};
use crate::domain::{
    personal::{PersonalAccessToken, PersonalSession},
    scopes::Scope,
};

/// Filters of the admin personal session list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalSessionFilter {
    pub owner_user: Option<Ulid>,
    pub owner_client: Option<Ulid>,
    pub actor_user: Option<Ulid>,
    /// Sessions whose scope includes this scope token.
    pub scope: Option<String>,
    /// `Some(true)`: only active sessions; `Some(false)`: only revoked ones.
    pub active: Option<bool>,
    /// Only sessions whose current token expires before / after this instant.
    pub expires_before: Option<DateTime<Utc>>,
    pub expires_after: Option<DateTime<Utc>>,
    /// `Some(true)`: only sessions whose current token expires; `Some(false)`: only those
    /// whose token never does.
    pub expires: Option<bool>,
}

impl PersonalSessionFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        if let Some(owner) = self.owner_user {
            c.text("p.owner_user_id = {}", owner.to_string());
        }
        if let Some(owner) = self.owner_client {
            c.text("p.owner_oauth2_client_id = {}", owner.to_string());
        }
        if let Some(actor) = self.actor_user {
            c.text("p.actor_user_id = {}", actor.to_string());
        }
        if let Some(scope) = &self.scope {
            c.text(
                "(' ' || p.scope_list || ' ') LIKE {} ESCAPE '\\'",
                format!("% {} %", like_escape(scope)),
            );
        }
        match self.active {
            Some(true) => c.push("p.revoked_at IS NULL"),
            Some(false) => c.push("p.revoked_at IS NOT NULL"),
            None => {}
        }
        if let Some(before) = self.expires_before {
            c.int("t.expires_at < {}", ms(before));
        }
        if let Some(after) = self.expires_after {
            c.int("t.expires_at > {}", ms(after));
        }
        match self.expires {
            Some(true) => c.push("t.expires_at IS NOT NULL"),
            Some(false) => c.push("t.expires_at IS NULL"),
            None => {}
        }
        c
    }
}

/// A personal session with the expiry of its current (unrevoked) token, if any.
#[derive(Debug, Clone)]
pub struct PersonalSessionWithExpiry {
    pub session: PersonalSession,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The session and its current token (at most one: issuing a token revokes the previous).
const SESSION_WITH_TOKEN: &str = "FROM personal_sessions p
     LEFT JOIN personal_access_tokens t
       ON t.personal_session_id = p.personal_session_id AND t.revoked_at IS NULL";

fn session_with_expiry(row: &AnyRow) -> Result<PersonalSessionWithExpiry, StoreError> {
    Ok(PersonalSessionWithExpiry {
        session: session_from_row(row)?,
        expires_at: get_opt_time(row, "token_expires_at")?,
    })
}

pub struct PersonalRepo<'c, M> {
    conn: Conn<'c, M>,
}

pub(crate) const SESSION_COLUMNS: &str = "p.personal_session_id, p.owner_user_id, p.owner_oauth2_client_id, p.actor_user_id, p.human_name, p.scope_list, p.created_at, p.revoked_at, p.last_active_at, p.last_active_ip";

pub(crate) fn session_from_row(row: &AnyRow) -> Result<PersonalSession, StoreError> {
    let scope: String = row.try_get("scope_list")?;
    Ok(PersonalSession {
        id: get_ulid(row, "personal_session_id")?,
        owner_user_id: get_opt_ulid(row, "owner_user_id")?,
        owner_client_id: get_opt_ulid(row, "owner_oauth2_client_id")?,
        actor_user_id: get_ulid(row, "actor_user_id")?,
        human_name: row.try_get("human_name")?,
        scope: Scope::from_stored(&scope),
        created_at: get_time(row, "created_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
        last_active_at: get_opt_time(row, "last_active_at")?,
        last_active_ip: row.try_get("last_active_ip")?,
    })
}

/// What a presented personal token resolves to.
#[derive(Debug, Clone)]
pub struct PersonalTokenLookup {
    pub token: PersonalAccessToken,
    pub session: PersonalSession,
}

impl<'c, M> PersonalRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    pub async fn find_token(
        &mut self,
        token_string: &str,
    ) -> Result<Option<PersonalTokenLookup>, StoreError> {
        let sql = format!(
            "SELECT t.personal_access_token_id, t.created_at AS token_created_at, t.expires_at,
                    t.revoked_at AS token_revoked_at, {SESSION_COLUMNS}
             FROM personal_access_tokens t
             JOIN personal_sessions p ON p.personal_session_id = t.personal_session_id
             WHERE t.access_token_sha256 = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_digest(token_string))
            .fetch_optional(&mut *self.conn)
            .await?
        else {
            return Ok(None);
        };
        let session = session_from_row(&row)?;
        let token = PersonalAccessToken {
            id: get_ulid(&row, "personal_access_token_id")?,
            session_id: session.id,
            created_at: get_time(&row, "token_created_at")?,
            expires_at: get_opt_time(&row, "expires_at")?,
            revoked_at: get_opt_time(&row, "token_revoked_at")?,
        };
        Ok(Some(PersonalTokenLookup { token, session }))
    }

    /// The unrevoked sessions acting as, or made by, this user.
    pub async fn active_sessions_of_user(
        &mut self,
        user_id: Ulid,
    ) -> Result<Vec<PersonalSession>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM personal_sessions p
             WHERE (p.actor_user_id = $1 OR p.owner_user_id = $1) AND p.revoked_at IS NULL
             ORDER BY p.personal_session_id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id.to_string())
            .fetch_all(&mut *self.conn)
            .await?
            .iter()
            .map(session_from_row)
            .collect()
    }

    pub async fn find_session(&mut self, id: Ulid) -> Result<Option<PersonalSession>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM personal_sessions p WHERE p.personal_session_id = $1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    pub async fn list_sessions(
        &mut self,
        filter: &PersonalSessionFilter,
        pagination: &Pagination,
    ) -> Result<Page<PersonalSessionWithExpiry>, StoreError> {
        let select = format!(
            "SELECT {SESSION_COLUMNS}, t.expires_at AS token_expires_at {SESSION_WITH_TOKEN}"
        );
        fetch_page(
            &mut self.conn,
            &select,
            "p.personal_session_id",
            filter.conditions(),
            pagination,
            session_with_expiry,
        )
        .await
    }

    pub async fn count_sessions(
        &mut self,
        filter: &PersonalSessionFilter,
    ) -> Result<u64, StoreError> {
        count(&mut self.conn, SESSION_WITH_TOKEN, &filter.conditions()).await
    }

    /// One session with the expiry of its current token.
    pub async fn find_session_with_expiry(
        &mut self,
        id: Ulid,
    ) -> Result<Option<PersonalSessionWithExpiry>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, t.expires_at AS token_expires_at {SESSION_WITH_TOKEN}
             WHERE p.personal_session_id = $1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn)
            .await?
            .as_ref()
            .map(session_with_expiry)
            .transpose()
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl PersonalRepo<'_, Write<'_>> {
    pub async fn add_session(&mut self, session: &PersonalSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO personal_sessions (personal_session_id, owner_user_id, owner_oauth2_client_id, actor_user_id,
                 human_name, scope_list, created_at, revoked_at, last_active_at, last_active_ip)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(session.id.to_string())
        .bind(session.owner_user_id.map(|id| id.to_string()))
        .bind(session.owner_client_id.map(|id| id.to_string()))
        .bind(session.actor_user_id.to_string())
        .bind(&session.human_name)
        .bind(session.scope.to_string())
        .bind(ms(session.created_at))
        .bind(opt_ms(session.revoked_at))
        .bind(opt_ms(session.last_active_at))
        .bind(session.last_active_ip.as_deref())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Store a new token for the session, revoking any token it had.
    pub async fn add_token(
        &mut self,
        token: &PersonalAccessToken,
        token_string: &str,
    ) -> Result<(), StoreError> {
        self.conn.ends_tokens_of(token.session_id);
        sqlx::query(
            "UPDATE personal_access_tokens SET revoked_at = $1
             WHERE personal_session_id = $2 AND revoked_at IS NULL",
        )
        .bind(ms(token.created_at))
        .bind(token.session_id.to_string())
        .execute(&mut *self.conn)
        .await?;
        let done = sqlx::query(
            "INSERT INTO personal_access_tokens (personal_access_token_id, personal_session_id, access_token_sha256,
                 created_at, expires_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT DO NOTHING",
        )
        .bind(token.id.to_string())
        .bind(token.session_id.to_string())
        .bind(token_digest(token_string))
        .bind(ms(token.created_at))
        .bind(opt_ms(token.expires_at))
        .bind(opt_ms(token.revoked_at))
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("personal access token"));
        }
        Ok(())
    }

    /// Record the latest use of many sessions at once (the activity recorder's flush).
    pub async fn record_activities(
        &mut self,
        activity: &[super::SessionActivity<'_>],
    ) -> Result<(), StoreError> {
        super::record_session_activity(
            &mut self.conn,
            "personal_sessions",
            "personal_session_id",
            activity,
        )
        .await
    }

    /// Revoke the session and its tokens.
    pub async fn revoke_session(
        &mut self,
        session: &mut PersonalSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.ends_tokens_of(session.id);
        sqlx::query("UPDATE personal_sessions SET revoked_at = $1 WHERE personal_session_id = $2 AND revoked_at IS NULL")
            .bind(ms(now))
            .bind(session.id.to_string())
            .execute(&mut *self.conn)
            .await?;
        sqlx::query(
            "UPDATE personal_access_tokens SET revoked_at = $1 WHERE personal_session_id = $2 AND revoked_at IS NULL",
        )
        .bind(ms(now))
        .bind(session.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        session.revoked_at.get_or_insert(now);
        Ok(())
    }
}

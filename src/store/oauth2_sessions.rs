//! OAuth 2.0 sessions (`oauth2_sessions`) and the ending of their tokens
//! (`oauth2_access_tokens`, `oauth2_refresh_tokens`).

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{get_flag, get_opt_time, get_opt_ulid, get_time, get_ulid, ms, opt_ms},
    compat::token_digest,
    pagination::{self, Conditions, Page, Pagination, SessionTimes, fetch_page, like_escape},
};
use crate::domain::{
    oauth2_grants::{OAuth2AccessToken, OAuth2RefreshToken},
    oauth2_sessions::OAuth2Session,
    scopes::Scope,
    users::User,
};

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
    /// Created / last active strictly after or before.
    pub times: SessionTimes,
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
        c.times("o", &self.times);
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

const REFRESH_COLUMNS: &str = "oauth2_refresh_token_id, oauth2_session_id, oauth2_access_token_id, created_at, consumed_at, revoked_at, next_oauth2_refresh_token_id";

fn refresh_from_row(row: &AnyRow) -> Result<OAuth2RefreshToken, StoreError> {
    Ok(OAuth2RefreshToken {
        id: get_ulid(row, "oauth2_refresh_token_id")?,
        session_id: get_ulid(row, "oauth2_session_id")?,
        access_token_id: get_opt_ulid(row, "oauth2_access_token_id")?,
        created_at: get_time(row, "created_at")?,
        consumed_at: get_opt_time(row, "consumed_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
        next_id: get_opt_ulid(row, "next_oauth2_refresh_token_id")?,
    })
}

/// What a presented access token resolves to: the token, its session and the session's user
/// (none for a client's own session), whatever their state; callers decide what is active.
#[derive(Debug, Clone)]
pub struct OAuth2TokenLookup {
    pub token: OAuth2AccessToken,
    pub session: OAuth2Session,
    pub user: Option<User>,
}

/// The user columns a lookup joins in beside [`OAUTH2_SESSION_COLUMNS`] (`LEFT JOIN users u`).
const LOOKUP_USER_COLUMNS: &str = "u.username, u.created_at AS user_created_at, u.locked_at, u.deactivated_at, u.can_request_admin, u.is_guest";

/// The session's user from a lookup row ([`LOOKUP_USER_COLUMNS`]). No username: a client's
/// own session, or a user deleted since.
fn lookup_user_from_row(row: &AnyRow, session: &OAuth2Session) -> Result<Option<User>, StoreError> {
    let username: Option<String> = row.try_get("username")?;
    Ok(match (session.user_id, username) {
        (Some(id), Some(username)) => Some(User {
            id,
            username,
            created_at: get_time(row, "user_created_at")?,
            locked_at: get_opt_time(row, "locked_at")?,
            deactivated_at: get_opt_time(row, "deactivated_at")?,
            can_request_admin: get_flag(row, "can_request_admin")?,
            is_guest: get_flag(row, "is_guest")?,
        }),
        _ => None,
    })
}

/// What a presented refresh token resolves to: the token, its session and the session's user,
/// whatever their state (one query, as for access tokens).
#[derive(Debug, Clone)]
pub struct OAuth2RefreshLookup {
    pub token: OAuth2RefreshToken,
    pub session: OAuth2Session,
    pub user: Option<User>,
}

fn lookup_from_row(row: &AnyRow) -> Result<OAuth2TokenLookup, StoreError> {
    let session = oauth2_session_from_row(row)?;
    let user = lookup_user_from_row(row, &session)?;
    Ok(OAuth2TokenLookup {
        token: OAuth2AccessToken {
            id: get_ulid(row, "oauth2_access_token_id")?,
            session_id: session.id,
            created_at: get_time(row, "token_created_at")?,
            expires_at: get_opt_time(row, "expires_at")?,
            revoked_at: get_opt_time(row, "revoked_at")?,
            first_used_at: get_opt_time(row, "first_used_at")?,
        },
        session,
        user,
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

    /// Resolve an access token string to its token, session and user.
    pub async fn find_access_token(
        &mut self,
        token_string: &str,
    ) -> Result<Option<OAuth2TokenLookup>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT t.oauth2_access_token_id, t.created_at AS token_created_at, t.expires_at,
                    t.revoked_at, t.first_used_at, {OAUTH2_SESSION_COLUMNS}, {LOOKUP_USER_COLUMNS}
             FROM oauth2_access_tokens t
             JOIN oauth2_sessions o ON o.oauth2_session_id = t.oauth2_session_id
             LEFT JOIN users u ON u.user_id = o.user_id
             WHERE t.access_token_sha256 = $1"
        )))
        .bind(token_digest(token_string))
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(lookup_from_row)
        .transpose()
    }

    /// Resolve a refresh token string to its token, session and user.
    pub async fn find_refresh_lookup(
        &mut self,
        token_string: &str,
    ) -> Result<Option<OAuth2RefreshLookup>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT r.oauth2_refresh_token_id, r.oauth2_access_token_id,
                    r.created_at AS token_created_at, r.consumed_at, r.revoked_at,
                    r.next_oauth2_refresh_token_id, {OAUTH2_SESSION_COLUMNS}, {LOOKUP_USER_COLUMNS}
             FROM oauth2_refresh_tokens r
             JOIN oauth2_sessions o ON o.oauth2_session_id = r.oauth2_session_id
             LEFT JOIN users u ON u.user_id = o.user_id
             WHERE r.refresh_token_sha256 = $1"
        )))
        .bind(token_digest(token_string))
        .fetch_optional(&mut *self.conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let session = oauth2_session_from_row(&row)?;
        Ok(Some(OAuth2RefreshLookup {
            token: OAuth2RefreshToken {
                id: get_ulid(&row, "oauth2_refresh_token_id")?,
                session_id: session.id,
                access_token_id: get_opt_ulid(&row, "oauth2_access_token_id")?,
                created_at: get_time(&row, "token_created_at")?,
                consumed_at: get_opt_time(&row, "consumed_at")?,
                revoked_at: get_opt_time(&row, "revoked_at")?,
                next_id: get_opt_ulid(&row, "next_oauth2_refresh_token_id")?,
            },
            user: lookup_user_from_row(&row, &session)?,
            session,
        }))
    }

    /// Resolve a refresh token string, whatever its state.
    pub async fn find_refresh_token(
        &mut self,
        token_string: &str,
    ) -> Result<Option<OAuth2RefreshToken>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFRESH_COLUMNS} FROM oauth2_refresh_tokens WHERE refresh_token_sha256 = $1"
        )))
        .bind(token_digest(token_string))
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(refresh_from_row)
        .transpose()
    }

    pub async fn find_refresh_token_by_id(
        &mut self,
        id: Ulid,
    ) -> Result<Option<OAuth2RefreshToken>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFRESH_COLUMNS} FROM oauth2_refresh_tokens WHERE oauth2_refresh_token_id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(refresh_from_row)
        .transpose()
    }

    /// When the access token `id` was first used, if it was (and exists).
    pub async fn access_token_first_used(
        &mut self,
        id: Ulid,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query(
            "SELECT first_used_at FROM oauth2_access_tokens WHERE oauth2_access_token_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?;
        match row {
            Some(row) => get_opt_time(&row, "first_used_at"),
            None => Ok(None),
        }
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

    /// Store an access token under the digest of `token_string` (the string is not kept).
    pub async fn add_access_token(
        &mut self,
        token: &OAuth2AccessToken,
        token_string: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO oauth2_access_tokens (oauth2_access_token_id, oauth2_session_id, access_token_sha256,
                 created_at, expires_at, revoked_at, first_used_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING",
        )
        .bind(token.id.to_string())
        .bind(token.session_id.to_string())
        .bind(token_digest(token_string))
        .bind(ms(token.created_at))
        .bind(opt_ms(token.expires_at))
        .bind(opt_ms(token.revoked_at))
        .bind(opt_ms(token.first_used_at))
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("access token"));
        }
        Ok(())
    }

    pub async fn add_refresh_token(
        &mut self,
        token: &OAuth2RefreshToken,
        token_string: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO oauth2_refresh_tokens (oauth2_refresh_token_id, oauth2_session_id, oauth2_access_token_id,
                 refresh_token_sha256, created_at, consumed_at, revoked_at, next_oauth2_refresh_token_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT DO NOTHING",
        )
        .bind(token.id.to_string())
        .bind(token.session_id.to_string())
        .bind(token.access_token_id.map(|id| id.to_string()))
        .bind(token_digest(token_string))
        .bind(ms(token.created_at))
        .bind(opt_ms(token.consumed_at))
        .bind(opt_ms(token.revoked_at))
        .bind(token.next_id.map(|id| id.to_string()))
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("refresh token"));
        }
        Ok(())
    }

    /// Store a new access token and the refresh token issued with it. False when a concurrent
    /// refresh of the same token stored the same pair first (on PostgreSQL the insert waits for
    /// it, then finds the digest taken): then drop the unit of work.
    pub async fn add_token_pair(
        &mut self,
        (access, access_token): (&OAuth2AccessToken, &str),
        (next, refresh_token): (&OAuth2RefreshToken, &str),
    ) -> Result<bool, StoreError> {
        for added in [
            self.add_access_token(access, access_token).await,
            self.add_refresh_token(next, refresh_token).await,
        ] {
            match added {
                Err(StoreError::Conflict(_)) => return Ok(false),
                added => added?,
            }
        }
        Ok(true)
    }

    /// A refresh: store the new pair (`access`, and `next` issued with it), mark `old` consumed
    /// and replaced by `next`, and end the access token `old` was issued with. False when `old`
    /// was consumed or revoked meanwhile, or a concurrent refresh stored the same pair first:
    /// then nothing of this should be kept (drop the unit of work).
    pub async fn rotate_refresh_token(
        &mut self,
        old: &OAuth2RefreshToken,
        (access, access_token): (&OAuth2AccessToken, &str),
        (next, refresh_token): (&OAuth2RefreshToken, &str),
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if self.conn.backend_name() != "PostgreSQL" {
            if !self
                .add_token_pair((access, access_token), (next, refresh_token))
                .await?
            {
                return Ok(false);
            }
            if !self.consume_refresh_token(old.id, next.id, now).await? {
                return Ok(false);
            }
            if let Some(previous) = old.access_token_id {
                self.revoke_access_token(previous, now).await?;
            }
            return Ok(true);
        }
        // PostgreSQL: the four writes in one statement, one round trip instead of four. The
        // foreign keys between the new rows are checked at the end of the statement, when all
        // are in. Bought 12% of the server CPU per refresh grant (0.559 -> 0.491 ms) and 15%
        // more grants/s (bench/oauth.sh postgres, interleaved A/B).
        let row = sqlx::query(
            "WITH access AS (
                 INSERT INTO oauth2_access_tokens (oauth2_access_token_id, oauth2_session_id,
                     access_token_sha256, created_at, expires_at, revoked_at, first_used_at)
                 VALUES ($1, $2, $3, $4, $5, NULL, NULL)
                 ON CONFLICT DO NOTHING RETURNING 1
             ), refresh AS (
                 INSERT INTO oauth2_refresh_tokens (oauth2_refresh_token_id, oauth2_session_id,
                     oauth2_access_token_id, refresh_token_sha256, created_at, consumed_at,
                     revoked_at, next_oauth2_refresh_token_id)
                 VALUES ($6, $2, $1, $7, $4, NULL, NULL, NULL)
                 ON CONFLICT DO NOTHING RETURNING 1
             ), consumed AS (
                 UPDATE oauth2_refresh_tokens
                 SET consumed_at = $4, next_oauth2_refresh_token_id = $6
                 WHERE oauth2_refresh_token_id = $8 AND consumed_at IS NULL AND revoked_at IS NULL
                 RETURNING 1
             ), ended AS (
                 UPDATE oauth2_access_tokens SET revoked_at = $4
                 WHERE oauth2_access_token_id = $9 AND revoked_at IS NULL
                 RETURNING 1
             )
             SELECT (SELECT count(*) FROM access) AS access, (SELECT count(*) FROM refresh) AS refresh,
                    (SELECT count(*) FROM consumed) AS consumed, (SELECT count(*) FROM ended) AS ended",
        )
        .bind(access.id.to_string())
        .bind(access.session_id.to_string())
        .bind(token_digest(access_token))
        .bind(ms(now))
        .bind(opt_ms(access.expires_at))
        .bind(next.id.to_string())
        .bind(token_digest(refresh_token))
        .bind(old.id.to_string())
        .bind(old.access_token_id.map(|id| id.to_string()))
        .fetch_one(&mut *self.conn)
        .await?;
        if let Some(previous) = old.access_token_id {
            self.conn.ends_tokens_of(previous);
        }
        // `ended` may be 0: that access token may have ended already.
        let wrote = |column| row.try_get::<i64, _>(column).map(|count| count == 1);
        Ok(wrote("access")? && wrote("refresh")? && wrote("consumed")?)
    }

    /// Mark a refresh token used and replaced by `next`. False when it was already consumed or
    /// revoked, so that of two concurrent refreshes with one token only one succeeds.
    pub async fn consume_refresh_token(
        &mut self,
        id: Ulid,
        next: Ulid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oauth2_refresh_tokens SET consumed_at = $1, next_oauth2_refresh_token_id = $2
             WHERE oauth2_refresh_token_id = $3 AND consumed_at IS NULL AND revoked_at IS NULL",
        )
        .bind(ms(now))
        .bind(next.to_string())
        .bind(id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A consumed refresh token is rotated again (its successor was never used): it now points
    /// at `next`; false when another refresh re-pointed it first.
    pub async fn repoint_refresh_token(
        &mut self,
        id: Ulid,
        previous_next: Ulid,
        next: Ulid,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oauth2_refresh_tokens SET next_oauth2_refresh_token_id = $1
             WHERE oauth2_refresh_token_id = $2 AND next_oauth2_refresh_token_id = $3
               AND revoked_at IS NULL",
        )
        .bind(next.to_string())
        .bind(id.to_string())
        .bind(previous_next.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Withdraw a refresh token nobody used (the successor of a token rotated again): it is
    /// deleted, so presenting it later finds nothing, and its access token ends now.
    pub async fn withdraw_refresh_token(
        &mut self,
        token: &OAuth2RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM oauth2_refresh_tokens WHERE oauth2_refresh_token_id = $1")
            .bind(token.id.to_string())
            .execute(&mut *self.conn)
            .await?;
        if let Some(access_token_id) = token.access_token_id {
            self.revoke_access_token(access_token_id, now).await?;
        }
        Ok(())
    }

    /// End an access token now (the one a refresh replaced, or a withdrawn one).
    pub async fn revoke_access_token(
        &mut self,
        id: Ulid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.ends_tokens_of(id);
        sqlx::query(
            "UPDATE oauth2_access_tokens SET revoked_at = $1
             WHERE oauth2_access_token_id = $2 AND revoked_at IS NULL",
        )
        .bind(ms(now))
        .bind(id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Record that these access tokens were first used at `at` (those already marked keep
    /// their first use).
    pub async fn mark_access_tokens_used(
        &mut self,
        ids: &[Ulid],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for id in ids {
            sqlx::query(
                "UPDATE oauth2_access_tokens SET first_used_at = $1
                 WHERE oauth2_access_token_id = $2 AND first_used_at IS NULL",
            )
            .bind(ms(at))
            .bind(id.to_string())
            .execute(&mut *self.conn)
            .await?;
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
            "oauth2_sessions",
            "oauth2_session_id",
            activity,
        )
        .await
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

    /// Finish the sessions whose `column` (a fixed name chosen above) is `id`, then revoke
    /// their tokens. Sessions before tokens, the order the activity flusher writes them in
    /// (`services::activity`): the other order deadlocks against it on PostgreSQL.
    async fn finish_where(
        &mut self,
        column: &'static str,
        id: Ulid,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let id = id.to_string();
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE oauth2_sessions SET finished_at = $1 WHERE {column} = $2 AND finished_at IS NULL"
        )))
        .bind(ms(now))
        .bind(&id)
        .execute(&mut *self.conn)
        .await?;
        // The tokens of every finished session matched: those just finished, and any token an
        // earlier finish left unrevoked.
        for table in ["oauth2_access_tokens", "oauth2_refresh_tokens"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET revoked_at = $1
                 WHERE revoked_at IS NULL AND oauth2_session_id IN
                   (SELECT oauth2_session_id FROM oauth2_sessions WHERE {column} = $2 AND finished_at IS NOT NULL)"
            )))
            .bind(ms(now))
            .bind(&id)
            .execute(&mut *self.conn)
            .await?;
        }
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

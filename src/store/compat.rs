//! Compatibility-layer sessions and their tokens (`compat_sessions`, `compat_access_tokens`,
//! `compat_refresh_tokens`). Tokens are stored as SHA-256 digests only: a leaked database does
//! not leak working tokens.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{flag, get_flag, get_opt_time, get_opt_ulid, get_time, get_ulid, ms, opt_ms},
    pagination::{Conditions, Page, Pagination, SessionTimes, count, fetch_page},
};
use crate::domain::{
    compat::{CompatAccessToken, CompatRefreshToken, CompatSession},
    users::User,
};

/// SHA-256 of a token string: the only form in which tokens are stored.
pub fn token_digest(token: &str) -> Vec<u8> {
    crate::crypto::sha256(token).to_vec()
}

/// How many tokens [`CompatRepo::find_access_tokens`] resolves in one query at most.
pub const LOOKUP_BATCH: usize = 16;

/// The token lookup statement for `slots` digests (a power of two up to [`LOOKUP_BATCH`]).
fn lookup_statement(slots: usize) -> &'static str {
    static STATEMENTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let statements = STATEMENTS.get_or_init(|| {
        (0..=LOOKUP_BATCH.ilog2())
            .map(|power| {
                let placeholders = (1..=1usize << power)
                    .map(|n| format!("${n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "SELECT t.access_token_sha256, t.compat_access_token_id,
                            t.created_at AS token_created_at, t.expires_at, t.first_used_at,
                            s.compat_session_id, s.user_id, s.device_id, s.is_synapse_admin,
                            s.finished_at, u.username, u.created_at AS user_created_at,
                            u.locked_at, u.deactivated_at, u.can_request_admin, u.is_guest
                     FROM compat_access_tokens t
                     JOIN compat_sessions s ON s.compat_session_id = t.compat_session_id
                     JOIN users u ON u.user_id = s.user_id
                     WHERE t.access_token_sha256 IN ({placeholders})"
                )
            })
            .collect()
    });
    &statements[slots.ilog2() as usize]
}

fn lookup_from_row(row: &AnyRow) -> Result<CompatTokenLookup, StoreError> {
    let session_id = get_ulid(row, "compat_session_id")?;
    Ok(CompatTokenLookup {
        token: CompatAccessToken {
            id: get_ulid(row, "compat_access_token_id")?,
            session_id,
            created_at: get_time(row, "token_created_at")?,
            expires_at: get_opt_time(row, "expires_at")?,
            first_used_at: get_opt_time(row, "first_used_at")?,
        },
        session_id,
        device_id: row.try_get("device_id")?,
        is_synapse_admin: get_flag(row, "is_synapse_admin")?,
        session_finished: get_opt_time(row, "finished_at")?.is_some(),
        user: User {
            id: get_ulid(row, "user_id")?,
            username: row.try_get("username")?,
            created_at: get_time(row, "user_created_at")?,
            locked_at: get_opt_time(row, "locked_at")?,
            deactivated_at: get_opt_time(row, "deactivated_at")?,
            can_request_admin: get_flag(row, "can_request_admin")?,
            is_guest: get_flag(row, "is_guest")?,
        },
    })
}

/// Filters of the admin compat session list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompatSessionFilter {
    pub user: Option<Ulid>,
    pub user_session: Option<Ulid>,
    /// `Some(true)`: only active sessions; `Some(false)`: only finished ones.
    pub active: Option<bool>,
    /// Created / last active strictly after or before.
    pub times: SessionTimes,
}

impl CompatSessionFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        if let Some(user) = self.user {
            c.text("s.user_id = {}", user.to_string());
        }
        if let Some(user_session) = self.user_session {
            c.text("s.user_session_id = {}", user_session.to_string());
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

pub struct CompatRepo<'c, M> {
    conn: Conn<'c, M>,
}

const SESSION_COLUMNS: &str = "s.compat_session_id, s.user_id, s.device_id, s.human_name, s.created_at, s.finished_at, s.is_synapse_admin, s.last_active_at, s.last_active_ip, s.user_agent,
    (SELECT MIN(l.redirect_uri) FROM compat_sso_logins l WHERE l.compat_session_id = s.compat_session_id) AS redirect_uri";

fn session_from_row(row: &AnyRow) -> Result<CompatSession, StoreError> {
    Ok(CompatSession {
        id: get_ulid(row, "compat_session_id")?,
        user_id: get_ulid(row, "user_id")?,
        device_id: row.try_get("device_id")?,
        human_name: row.try_get("human_name")?,
        created_at: get_time(row, "created_at")?,
        finished_at: get_opt_time(row, "finished_at")?,
        is_synapse_admin: get_flag(row, "is_synapse_admin")?,
        last_active_at: get_opt_time(row, "last_active_at")?,
        last_active_ip: row.try_get("last_active_ip")?,
        user_agent: row.try_get("user_agent")?,
        redirect_uri: row.try_get("redirect_uri")?,
    })
}

const REFRESH_COLUMNS: &str = "compat_refresh_token_id, compat_session_id, compat_access_token_id, created_at, consumed_at, next_compat_refresh_token_id";

fn refresh_from_row(row: &AnyRow) -> Result<CompatRefreshToken, StoreError> {
    Ok(CompatRefreshToken {
        id: get_ulid(row, "compat_refresh_token_id")?,
        session_id: get_ulid(row, "compat_session_id")?,
        access_token_id: get_ulid(row, "compat_access_token_id")?,
        created_at: get_time(row, "created_at")?,
        consumed_at: get_opt_time(row, "consumed_at")?,
        next_id: get_opt_ulid(row, "next_compat_refresh_token_id")?,
    })
}

/// What a presented access token resolves to: the token, the facts about its session that
/// decide what it grants, and its user.
#[derive(Debug, Clone)]
pub struct CompatTokenLookup {
    pub token: CompatAccessToken,
    pub session_id: Ulid,
    pub device_id: Option<String>,
    pub is_synapse_admin: bool,
    pub session_finished: bool,
    pub user: User,
}

impl<'c, M> CompatRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    /// Resolve an access token string to its token, session and user, whatever their state;
    /// callers decide what counts as active.
    pub async fn find_access_token(
        &mut self,
        token_string: &str,
    ) -> Result<Option<CompatTokenLookup>, StoreError> {
        let digest = crate::crypto::sha256(token_string);
        let mut found = self.find_access_tokens(&[digest]).await?;
        Ok(found.pop().map(|(_, lookup)| lookup))
    }

    /// Resolve up to [`LOOKUP_BATCH`] access tokens, given by their SHA-256 digests, in one
    /// query. Each token found comes back with its digest; unknown ones are left out. Only the
    /// columns that decide what a token grants are read: this runs for the introspections the
    /// cache cannot answer.
    pub async fn find_access_tokens(
        &mut self,
        digests: &[[u8; 32]],
    ) -> Result<Vec<([u8; 32], CompatTokenLookup)>, StoreError> {
        let Some(last) = digests.last() else {
            return Ok(Vec::new());
        };
        assert!(
            digests.len() <= LOOKUP_BATCH,
            "at most {LOOKUP_BATCH} tokens per lookup"
        );
        // Few distinct statement texts, so that each stays prepared: the list is padded to a
        // power of two by repeating the last digest.
        let slots = digests.len().next_power_of_two();
        let mut query = sqlx::query(sqlx::AssertSqlSafe(lookup_statement(slots)));
        for digest in digests
            .iter()
            .chain(std::iter::repeat_n(last, slots - digests.len()))
        {
            query = query.bind(digest.to_vec());
        }
        let rows = query.fetch_all(&mut *self.conn).await?;
        rows.iter()
            .map(|row| {
                let digest: Vec<u8> = row.try_get("access_token_sha256")?;
                let digest =
                    <[u8; 32]>::try_from(digest.as_slice()).map_err(|_| StoreError::Corrupt {
                        column: "access_token_sha256",
                        detail: format!("{} bytes, expected 32", digest.len()),
                    })?;
                Ok((digest, lookup_from_row(row)?))
            })
            .collect()
    }

    /// Resolve a refresh token string.
    pub async fn find_refresh_token(
        &mut self,
        token_string: &str,
    ) -> Result<Option<CompatRefreshToken>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFRESH_COLUMNS} FROM compat_refresh_tokens WHERE refresh_token_sha256 = $1"
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
    ) -> Result<Option<CompatRefreshToken>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFRESH_COLUMNS} FROM compat_refresh_tokens WHERE compat_refresh_token_id = $1"
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
            "SELECT first_used_at FROM compat_access_tokens WHERE compat_access_token_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?;
        match row {
            Some(row) => get_opt_time(&row, "first_used_at"),
            None => Ok(None),
        }
    }

    pub async fn find_session(&mut self, id: Ulid) -> Result<Option<CompatSession>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM compat_sessions s WHERE s.compat_session_id = $1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    /// One page of sessions matching `filter`, by id.
    pub async fn list_sessions(
        &mut self,
        filter: &CompatSessionFilter,
        pagination: &Pagination,
    ) -> Result<Page<CompatSession>, StoreError> {
        fetch_page(
            &mut self.conn,
            &format!("SELECT {SESSION_COLUMNS} FROM compat_sessions s"),
            "s.compat_session_id",
            filter.conditions(),
            pagination,
            session_from_row,
        )
        .await
    }

    pub async fn count_sessions(
        &mut self,
        filter: &CompatSessionFilter,
    ) -> Result<u64, StoreError> {
        count(
            &mut self.conn,
            "FROM compat_sessions s",
            &filter.conditions(),
        )
        .await
    }

    /// The user's sessions that are not finished, oldest first.
    pub async fn active_sessions(
        &mut self,
        user_id: Ulid,
    ) -> Result<Vec<CompatSession>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM compat_sessions s
             WHERE s.user_id = $1 AND s.finished_at IS NULL ORDER BY s.compat_session_id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id.to_string())
            .fetch_all(&mut *self.conn)
            .await?
            .iter()
            .map(session_from_row)
            .collect()
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl CompatRepo<'_, Write<'_>> {
    pub async fn add_session(&mut self, session: &CompatSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO compat_sessions (compat_session_id, user_id, device_id, human_name, created_at, finished_at,
                                          is_synapse_admin, last_active_at, last_active_ip, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(session.id.to_string())
        .bind(session.user_id.to_string())
        .bind(session.device_id.as_deref())
        .bind(session.human_name.as_deref())
        .bind(ms(session.created_at))
        .bind(opt_ms(session.finished_at))
        .bind(flag(session.is_synapse_admin))
        .bind(opt_ms(session.last_active_at))
        .bind(session.last_active_ip.as_deref())
        .bind(session.user_agent.as_deref())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Store an access token under the digest of `token` (the string itself is not kept).
    pub async fn add_access_token(
        &mut self,
        token: &CompatAccessToken,
        token_string: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO compat_access_tokens (compat_access_token_id, compat_session_id, access_token_sha256, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
        )
        .bind(token.id.to_string())
        .bind(token.session_id.to_string())
        .bind(token_digest(token_string))
        .bind(ms(token.created_at))
        .bind(opt_ms(token.expires_at))
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("access token"));
        }
        Ok(())
    }

    pub async fn add_refresh_token(
        &mut self,
        token: &CompatRefreshToken,
        token_string: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO compat_refresh_tokens (compat_refresh_token_id, compat_session_id, compat_access_token_id,
                                                refresh_token_sha256, created_at, consumed_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT DO NOTHING",
        )
        .bind(token.id.to_string())
        .bind(token.session_id.to_string())
        .bind(token.access_token_id.to_string())
        .bind(token_digest(token_string))
        .bind(ms(token.created_at))
        .bind(opt_ms(token.consumed_at))
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("refresh token"));
        }
        Ok(())
    }

    /// Mark a refresh token used and replaced by `next`. Returns false when it was already
    /// consumed, so that two concurrent refreshes cannot both succeed.
    pub async fn consume_refresh_token(
        &mut self,
        id: Ulid,
        next: Ulid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE compat_refresh_tokens SET consumed_at = $1, next_compat_refresh_token_id = $2
             WHERE compat_refresh_token_id = $3 AND consumed_at IS NULL",
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
            "UPDATE compat_refresh_tokens SET next_compat_refresh_token_id = $1
             WHERE compat_refresh_token_id = $2 AND next_compat_refresh_token_id = $3",
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
        token: &CompatRefreshToken,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM compat_refresh_tokens WHERE compat_refresh_token_id = $1")
            .bind(token.id.to_string())
            .execute(&mut *self.conn)
            .await?;
        self.expire_access_token(token.access_token_id, now).await
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
                "UPDATE compat_access_tokens SET first_used_at = $1
                 WHERE compat_access_token_id = $2 AND first_used_at IS NULL",
            )
            .bind(ms(at))
            .bind(id.to_string())
            .execute(&mut *self.conn)
            .await?;
        }
        Ok(())
    }

    /// Make an access token expire now (after its refresh, the old token stops working).
    pub async fn expire_access_token(
        &mut self,
        id: Ulid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.ends_tokens_of(id);
        sqlx::query(
            "UPDATE compat_access_tokens SET expires_at = $1
             WHERE compat_access_token_id = $2 AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(ms(now))
        .bind(id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Rename a session's device (its `human_name`).
    pub async fn set_human_name(
        &mut self,
        session: &mut CompatSession,
        human_name: Option<String>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE compat_sessions SET human_name = $1 WHERE compat_session_id = $2")
            .bind(human_name.as_deref())
            .bind(session.id.to_string())
            .execute(&mut *self.conn)
            .await?;
        session.human_name = human_name;
        Ok(())
    }

    pub async fn finish_session(
        &mut self,
        session: &mut CompatSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.ends_tokens_of(session.id);
        if session.finished_at.is_some() {
            return Ok(());
        }
        sqlx::query("UPDATE compat_sessions SET finished_at = $1 WHERE compat_session_id = $2 AND finished_at IS NULL")
            .bind(ms(now))
            .bind(session.id.to_string())
            .execute(&mut *self.conn)
            .await?;
        session.finished_at = Some(now);
        Ok(())
    }

    /// Finish every active session of a user; returns how many were finished.
    pub async fn finish_all_sessions(
        &mut self,
        user_id: Ulid,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.conn.ends_tokens_of(user_id);
        let done = sqlx::query("UPDATE compat_sessions SET finished_at = $1 WHERE user_id = $2 AND finished_at IS NULL")
            .bind(ms(now))
            .bind(user_id.to_string())
            .execute(&mut *self.conn)
            .await?;
        Ok(done.rows_affected())
    }

    /// Record the latest use of many sessions at once (the activity recorder's flush).
    pub async fn record_activities(
        &mut self,
        activity: &[super::SessionActivity<'_>],
    ) -> Result<(), StoreError> {
        super::record_session_activity(
            &mut self.conn,
            "compat_sessions",
            "compat_session_id",
            activity,
        )
        .await
    }

    /// Finish the active sessions last used (or, never used, started) before `before`;
    /// returns them as they were.
    pub async fn finish_inactive(
        &mut self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<CompatSession>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM compat_sessions s
             WHERE s.finished_at IS NULL AND COALESCE(s.last_active_at, s.created_at) < $1"
        );
        let sessions: Vec<CompatSession> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(before))
            .fetch_all(&mut *self.conn)
            .await?
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()?;
        for session in &sessions {
            self.finish_session(&mut session.clone(), now).await?;
        }
        Ok(sessions)
    }
}

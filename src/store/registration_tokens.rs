//! The `user_registration_tokens` table. These are shared codes an admin hands out and lists
//! back (the admin API shows them), so they are kept readable, unlike session tokens.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{get_opt_time, get_time, get_ulid, ms, opt_ms},
    pagination::{self, Conditions, Page, Pagination, fetch_page},
};
use crate::domain::registration_tokens::RegistrationToken;

/// Filters of the admin registration token list; `now` decides what has expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationTokenFilter {
    pub now: DateTime<Utc>,
    /// Used at least once (`true`) or never (`false`).
    pub used: Option<bool>,
    pub revoked: Option<bool>,
    pub expired: Option<bool>,
    /// Would accept one more registration now (`true`) or would not (`false`).
    pub valid: Option<bool>,
}

impl RegistrationTokenFilter {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            used: None,
            revoked: None,
            expired: None,
            valid: None,
        }
    }

    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        match self.used {
            Some(true) => c.push("r.times_used > 0"),
            Some(false) => c.push("r.times_used = 0"),
            None => {}
        }
        match self.revoked {
            Some(true) => c.push("r.revoked_at IS NOT NULL"),
            Some(false) => c.push("r.revoked_at IS NULL"),
            None => {}
        }
        let now = ms(self.now);
        match self.expired {
            Some(true) => c.int("(r.expires_at IS NOT NULL AND r.expires_at <= {})", now),
            Some(false) => c.int("(r.expires_at IS NULL OR r.expires_at > {})", now),
            None => {}
        }
        const VALID: &str = "(r.revoked_at IS NULL AND (r.expires_at IS NULL OR r.expires_at > {}) AND (r.usage_limit IS NULL OR r.times_used < r.usage_limit))";
        match self.valid {
            Some(true) => c.int(VALID, now),
            Some(false) => c.int(&format!("NOT {VALID}"), now),
            None => {}
        }
        c
    }
}

const COLUMNS: &str = "r.user_registration_token_id, r.token, r.usage_limit, r.times_used, r.created_at, r.last_used_at, r.expires_at, r.revoked_at";

pub struct RegistrationTokenRepo<'c, M> {
    conn: Conn<'c, M>,
}

fn count(row: &AnyRow, column: &'static str) -> Result<Option<u32>, StoreError> {
    let value: Option<i64> = row.try_get(column)?;
    value
        .map(|v| {
            u32::try_from(v).map_err(|_| StoreError::Corrupt {
                column,
                detail: format!("{v} is not a count"),
            })
        })
        .transpose()
}

fn token_from_row(row: &AnyRow) -> Result<RegistrationToken, StoreError> {
    Ok(RegistrationToken {
        id: get_ulid(row, "user_registration_token_id")?,
        token: row.try_get("token")?,
        usage_limit: count(row, "usage_limit")?,
        times_used: count(row, "times_used")?.unwrap_or(0),
        created_at: get_time(row, "created_at")?,
        last_used_at: get_opt_time(row, "last_used_at")?,
        expires_at: get_opt_time(row, "expires_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
    })
}

impl<'c, M> RegistrationTokenRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    pub async fn find_by_token(
        &mut self,
        token: &str,
    ) -> Result<Option<RegistrationToken>, StoreError> {
        sqlx::query(
            "SELECT user_registration_token_id, token, usage_limit, times_used, created_at, last_used_at, expires_at, revoked_at
             FROM user_registration_tokens WHERE token = $1",
        )
        .bind(token)
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(token_from_row)
        .transpose()
    }

    pub async fn list(
        &mut self,
        filter: &RegistrationTokenFilter,
        pagination: &Pagination,
    ) -> Result<Page<RegistrationToken>, StoreError> {
        fetch_page(
            &mut self.conn,
            &format!("SELECT {COLUMNS} FROM user_registration_tokens r"),
            "r.user_registration_token_id",
            filter.conditions(),
            pagination,
            token_from_row,
        )
        .await
    }

    pub async fn count(&mut self, filter: &RegistrationTokenFilter) -> Result<u64, StoreError> {
        pagination::count(
            &mut self.conn,
            "FROM user_registration_tokens r",
            &filter.conditions(),
        )
        .await
    }

    pub async fn find_by_id(&mut self, id: Ulid) -> Result<Option<RegistrationToken>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM user_registration_tokens r WHERE r.user_registration_token_id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(token_from_row)
        .transpose()
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl RegistrationTokenRepo<'_, Write<'_>> {
    pub async fn add(&mut self, token: &RegistrationToken) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO user_registration_tokens (user_registration_token_id, token, usage_limit, times_used,
                                                   created_at, last_used_at, expires_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT DO NOTHING",
        )
        .bind(token.id.to_string())
        .bind(&token.token)
        .bind(token.usage_limit.map(i64::from))
        .bind(i64::from(token.times_used))
        .bind(ms(token.created_at))
        .bind(opt_ms(token.last_used_at))
        .bind(opt_ms(token.expires_at))
        .bind(opt_ms(token.revoked_at))
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("registration token"));
        }
        Ok(())
    }

    /// Count one use, only if the token is still valid at `now`; false when it was not.
    pub async fn use_token(
        &mut self,
        token: &mut RegistrationToken,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE user_registration_tokens SET times_used = times_used + 1, last_used_at = $1
             WHERE user_registration_token_id = $2 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > $1)
               AND (usage_limit IS NULL OR times_used < usage_limit)",
        )
        .bind(ms(now))
        .bind(token.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        let used = done.rows_affected() == 1;
        if used {
            token.times_used += 1;
            token.last_used_at = Some(now);
        }
        Ok(used)
    }

    /// Write the token's `usage_limit`, `expires_at` and `revoked_at`.
    pub async fn update(&mut self, token: &RegistrationToken) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE user_registration_tokens SET usage_limit = $1, expires_at = $2, revoked_at = $3
             WHERE user_registration_token_id = $4",
        )
        .bind(token.usage_limit.map(i64::from))
        .bind(opt_ms(token.expires_at))
        .bind(opt_ms(token.revoked_at))
        .bind(token.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }
}

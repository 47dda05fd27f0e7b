//! Compat SSO logins (`compat_sso_logins`): created by `/login/sso/redirect`, fulfilled when
//! the person confirms in the browser (which sets the login token), exchanged once by
//! `m.login.token`.

use chrono::{DateTime, Utc};
use sqlx::Row;
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{get_opt_time, get_opt_ulid, get_time, get_ulid, ms},
    compat::token_digest,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatSsoLogin {
    pub id: Ulid,
    pub redirect_uri: String,
    pub user_session_id: Option<Ulid>,
    pub created_at: DateTime<Utc>,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub exchanged_at: Option<DateTime<Utc>>,
}

pub struct CompatSsoRepo<'c, M> {
    conn: Conn<'c, M>,
}

const COLUMNS: &str =
    "compat_sso_login_id, redirect_uri, user_session_id, created_at, fulfilled_at, exchanged_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<CompatSsoLogin, StoreError> {
    Ok(CompatSsoLogin {
        id: get_ulid(row, "compat_sso_login_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        user_session_id: get_opt_ulid(row, "user_session_id")?,
        created_at: get_time(row, "created_at")?,
        fulfilled_at: get_opt_time(row, "fulfilled_at")?,
        exchanged_at: get_opt_time(row, "exchanged_at")?,
    })
}

impl<'c, M> CompatSsoRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    pub async fn find(&mut self, id: Ulid) -> Result<Option<CompatSsoLogin>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM compat_sso_logins WHERE compat_sso_login_id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    pub async fn find_by_token(
        &mut self,
        login_token: &str,
    ) -> Result<Option<CompatSsoLogin>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM compat_sso_logins WHERE login_token_sha256 = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_digest(login_token))
            .fetch_optional(&mut *self.conn)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl CompatSsoRepo<'_, Write<'_>> {
    /// `placeholder` is an unguessable value that stands in for the login token until the login
    /// is fulfilled (the column is unique and required; nobody knows this value).
    pub async fn add(
        &mut self,
        login: &CompatSsoLogin,
        placeholder: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO compat_sso_logins (compat_sso_login_id, redirect_uri, login_token_sha256, created_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(login.id.to_string())
        .bind(&login.redirect_uri)
        .bind(token_digest(placeholder))
        .bind(ms(login.created_at))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Fulfil an unfulfilled login for a browser session; false if it was fulfilled already.
    pub async fn fulfil(
        &mut self,
        id: Ulid,
        user_session_id: Ulid,
        login_token: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE compat_sso_logins SET fulfilled_at = $1, user_session_id = $2, login_token_sha256 = $3
             WHERE compat_sso_login_id = $4 AND fulfilled_at IS NULL",
        )
        .bind(ms(now))
        .bind(user_session_id.to_string())
        .bind(token_digest(login_token))
        .bind(id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Record the compatibility session an exchanged login started.
    pub async fn link_session(&mut self, id: Ulid, session_id: Ulid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE compat_sso_logins SET compat_session_id = $1 WHERE compat_sso_login_id = $2",
        )
        .bind(session_id.to_string())
        .bind(id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Mark a fulfilled login exchanged; false if it was exchanged already (single use).
    pub async fn mark_exchanged(
        &mut self,
        id: Ulid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE compat_sso_logins SET exchanged_at = $1
             WHERE compat_sso_login_id = $2 AND fulfilled_at IS NOT NULL AND exchanged_at IS NULL",
        )
        .bind(ms(now))
        .bind(id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Delete the logins started before `before` that started no session: by then none can be
    /// confirmed or exchanged.
    pub async fn delete_started_before(
        &mut self,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // A login that started a session stays with it (it holds the session's redirect_uri,
        // and goes when the session row goes); its token was spent on the exchange.
        let done = sqlx::query(
            "DELETE FROM compat_sso_logins WHERE created_at < $1 AND compat_session_id IS NULL",
        )
        .bind(ms(before))
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected())
    }
}

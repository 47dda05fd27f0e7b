//! OAuth 2.0 grants (`oauth2_authorization_grants`, `oauth2_device_code_grants`) and remembered
//! consent (`oauth2_consents`). Authorization and device codes are stored as SHA-256 digests
//! only. Every change of state is a conditional UPDATE, so that of two concurrent requests
//! (two exchanges of one code, an approval racing a decline) exactly one wins.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{flag, get_flag, get_opt_time, get_opt_ulid, get_time, get_ulid, ms, opt_ms},
    compat::token_digest,
};
use crate::domain::{
    oauth2_grants::{
        AuthorizationGrant, DeviceCodeGrant, Pkce, PkceMethod, ResponseMode, consentable,
    },
    scopes::Scope,
};

const GRANT_COLUMNS: &str = "oauth2_authorization_grant_id, oauth2_client_id, redirect_uri, scope, state, nonce, response_mode, response_type_id_token, code_challenge, code_challenge_method, login_hint, prompt, max_age, created_at, fulfilled_at, exchanged_at, cancelled_at, user_id, user_session_id, oauth2_session_id";

fn grant_from_row(row: &AnyRow) -> Result<AuthorizationGrant, StoreError> {
    let mode: String = row.try_get("response_mode")?;
    let response_mode = ResponseMode::parse(&mode).ok_or_else(|| StoreError::Corrupt {
        column: "response_mode",
        detail: mode.clone(),
    })?;
    let challenge: Option<String> = row.try_get("code_challenge")?;
    let method: Option<String> = row.try_get("code_challenge_method")?;
    let pkce = match (challenge, method) {
        (Some(challenge), Some(method)) => Some(Pkce {
            method: PkceMethod::parse(&method).ok_or(StoreError::Corrupt {
                column: "code_challenge_method",
                detail: method.clone(),
            })?,
            challenge,
        }),
        _ => None,
    };
    Ok(AuthorizationGrant {
        id: get_ulid(row, "oauth2_authorization_grant_id")?,
        client_id: get_ulid(row, "oauth2_client_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: Scope::from_stored(&row.try_get::<String, _>("scope")?),
        state: row.try_get("state")?,
        nonce: row.try_get("nonce")?,
        response_mode,
        response_type_id_token: get_flag(row, "response_type_id_token")?,
        pkce,
        login_hint: row.try_get("login_hint")?,
        prompt: row.try_get("prompt")?,
        max_age: row.try_get("max_age")?,
        created_at: get_time(row, "created_at")?,
        fulfilled_at: get_opt_time(row, "fulfilled_at")?,
        exchanged_at: get_opt_time(row, "exchanged_at")?,
        cancelled_at: get_opt_time(row, "cancelled_at")?,
        user_id: get_opt_ulid(row, "user_id")?,
        user_session_id: get_opt_ulid(row, "user_session_id")?,
        session_id: get_opt_ulid(row, "oauth2_session_id")?,
    })
}

const DEVICE_COLUMNS: &str = "oauth2_device_code_grant_id, oauth2_client_id, scope, user_code, created_at, expires_at, last_polled_at, poll_interval, fulfilled_at, rejected_at, exchanged_at, user_id, user_session_id, oauth2_session_id, ip_address, user_agent";

fn device_from_row(row: &AnyRow) -> Result<DeviceCodeGrant, StoreError> {
    let interval: i64 = row.try_get("poll_interval")?;
    Ok(DeviceCodeGrant {
        id: get_ulid(row, "oauth2_device_code_grant_id")?,
        client_id: get_ulid(row, "oauth2_client_id")?,
        scope: Scope::from_stored(&row.try_get::<String, _>("scope")?),
        user_code: row.try_get("user_code")?,
        created_at: get_time(row, "created_at")?,
        expires_at: get_time(row, "expires_at")?,
        last_polled_at: get_opt_time(row, "last_polled_at")?,
        interval: chrono::Duration::seconds(interval),
        fulfilled_at: get_opt_time(row, "fulfilled_at")?,
        rejected_at: get_opt_time(row, "rejected_at")?,
        exchanged_at: get_opt_time(row, "exchanged_at")?,
        user_id: get_opt_ulid(row, "user_id")?,
        user_session_id: get_opt_ulid(row, "user_session_id")?,
        session_id: get_opt_ulid(row, "oauth2_session_id")?,
        ip_address: row.try_get("ip_address")?,
        user_agent: row.try_get("user_agent")?,
    })
}

pub struct OAuth2GrantRepo<'c, M> {
    conn: Conn<'c, M>,
}

impl<'c, M> OAuth2GrantRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    pub async fn find(&mut self, id: Ulid) -> Result<Option<AuthorizationGrant>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM oauth2_authorization_grants
             WHERE oauth2_authorization_grant_id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(grant_from_row)
        .transpose()
    }

    /// The grant whose authorization code is `code`, whatever its state.
    pub async fn find_by_code(
        &mut self,
        code: &str,
    ) -> Result<Option<AuthorizationGrant>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM oauth2_authorization_grants
             WHERE authorization_code_sha256 = $1"
        )))
        .bind(token_digest(code))
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(grant_from_row)
        .transpose()
    }

    pub async fn find_device(&mut self, id: Ulid) -> Result<Option<DeviceCodeGrant>, StoreError> {
        self.find_device_where("oauth2_device_code_grant_id = $1", id.to_string())
            .await
    }

    /// The device grant whose user code is `user_code` (in its stored `XXXX-XXXX` form).
    pub async fn find_device_by_user_code(
        &mut self,
        user_code: &str,
    ) -> Result<Option<DeviceCodeGrant>, StoreError> {
        self.find_device_where("user_code = $1", user_code.to_owned())
            .await
    }

    /// The device grant whose device code is `device_code`.
    pub async fn find_device_by_code(
        &mut self,
        device_code: &str,
    ) -> Result<Option<DeviceCodeGrant>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM oauth2_device_code_grants WHERE device_code_sha256 = $1"
        )))
        .bind(token_digest(device_code))
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(device_from_row)
        .transpose()
    }

    /// `condition` is a fixed text chosen above, never input.
    async fn find_device_where(
        &mut self,
        condition: &'static str,
        value: String,
    ) -> Result<Option<DeviceCodeGrant>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DEVICE_COLUMNS} FROM oauth2_device_code_grants WHERE {condition}"
        )))
        .bind(value)
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(device_from_row)
        .transpose()
    }

    /// The scope tokens the user consented to for this client.
    pub async fn consented_scope(
        &mut self,
        user_id: Ulid,
        client_id: Ulid,
    ) -> Result<Scope, StoreError> {
        let tokens: Vec<String> = sqlx::query_scalar(
            "SELECT scope_token FROM oauth2_consents WHERE user_id = $1 AND oauth2_client_id = $2
             ORDER BY oauth2_consent_id",
        )
        .bind(user_id.to_string())
        .bind(client_id.to_string())
        .fetch_all(&mut *self.conn)
        .await?;
        Ok(Scope::from_stored(&tokens.join(" ")))
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl OAuth2GrantRepo<'_, Write<'_>> {
    pub async fn add(&mut self, grant: &AuthorizationGrant) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth2_authorization_grants (oauth2_authorization_grant_id, oauth2_client_id, redirect_uri,
                 scope, state, nonce, response_mode, response_type_id_token, code_challenge, code_challenge_method,
                 login_hint, prompt, max_age, created_at, fulfilled_at, exchanged_at, cancelled_at, user_id,
                 user_session_id, oauth2_session_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        )
        .bind(grant.id.to_string())
        .bind(grant.client_id.to_string())
        .bind(grant.redirect_uri.as_str())
        .bind(grant.scope.to_string())
        .bind(grant.state.as_deref())
        .bind(grant.nonce.as_deref())
        .bind(grant.response_mode.as_str())
        .bind(flag(grant.response_type_id_token))
        .bind(grant.pkce.as_ref().map(|pkce| pkce.challenge.clone()))
        .bind(grant.pkce.as_ref().map(|pkce| pkce.method.as_str()))
        .bind(grant.login_hint.as_deref())
        .bind(grant.prompt.as_deref())
        .bind(grant.max_age)
        .bind(ms(grant.created_at))
        .bind(opt_ms(grant.fulfilled_at))
        .bind(opt_ms(grant.exchanged_at))
        .bind(opt_ms(grant.cancelled_at))
        .bind(grant.user_id.map(|id| id.to_string()))
        .bind(grant.user_session_id.map(|id| id.to_string()))
        .bind(grant.session_id.map(|id| id.to_string()))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// The user approved a pending grant: its code (kept as a digest) becomes exchangeable.
    /// False when the grant was no longer pending.
    pub async fn fulfil(
        &mut self,
        grant: &mut AuthorizationGrant,
        code: &str,
        user_id: Ulid,
        user_session_id: Option<Ulid>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oauth2_authorization_grants
             SET fulfilled_at = $1, authorization_code_sha256 = $2, user_id = $3, user_session_id = $4
             WHERE oauth2_authorization_grant_id = $5
               AND fulfilled_at IS NULL AND cancelled_at IS NULL AND exchanged_at IS NULL",
        )
        .bind(ms(now))
        .bind(token_digest(code))
        .bind(user_id.to_string())
        .bind(user_session_id.map(|id| id.to_string()))
        .bind(grant.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        grant.fulfilled_at = Some(now);
        grant.user_id = Some(user_id);
        grant.user_session_id = user_session_id;
        Ok(true)
    }

    /// The user declined, or the request was abandoned. False when it was already decided.
    pub async fn cancel(
        &mut self,
        grant: &mut AuthorizationGrant,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oauth2_authorization_grants SET cancelled_at = $1
             WHERE oauth2_authorization_grant_id = $2
               AND fulfilled_at IS NULL AND cancelled_at IS NULL AND exchanged_at IS NULL",
        )
        .bind(ms(now))
        .bind(grant.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        grant.cancelled_at = Some(now);
        Ok(true)
    }

    /// Exchange a fulfilled grant's code for `session_id`, exactly once: of two concurrent
    /// exchanges only one gets `true`.
    pub async fn exchange(
        &mut self,
        grant: &mut AuthorizationGrant,
        session_id: Ulid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oauth2_authorization_grants SET exchanged_at = $1, oauth2_session_id = $2
             WHERE oauth2_authorization_grant_id = $3
               AND fulfilled_at IS NOT NULL AND cancelled_at IS NULL AND exchanged_at IS NULL",
        )
        .bind(ms(now))
        .bind(session_id.to_string())
        .bind(grant.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        grant.exchanged_at = Some(now);
        grant.session_id = Some(session_id);
        Ok(true)
    }

    /// Store a device grant under the digest of `device_code`. [`StoreError::Conflict`] when
    /// its user code (or device code) is taken; the caller draws another.
    pub async fn add_device(
        &mut self,
        grant: &DeviceCodeGrant,
        device_code: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO oauth2_device_code_grants (oauth2_device_code_grant_id, oauth2_client_id, scope,
                 device_code_sha256, user_code, created_at, expires_at, last_polled_at, poll_interval,
                 fulfilled_at, rejected_at, exchanged_at, user_id, user_session_id, oauth2_session_id,
                 ip_address, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
             ON CONFLICT DO NOTHING",
        )
        .bind(grant.id.to_string())
        .bind(grant.client_id.to_string())
        .bind(grant.scope.to_string())
        .bind(token_digest(device_code))
        .bind(grant.user_code.as_str())
        .bind(ms(grant.created_at))
        .bind(ms(grant.expires_at))
        .bind(opt_ms(grant.last_polled_at))
        .bind(grant.interval.num_seconds())
        .bind(opt_ms(grant.fulfilled_at))
        .bind(opt_ms(grant.rejected_at))
        .bind(opt_ms(grant.exchanged_at))
        .bind(grant.user_id.map(|id| id.to_string()))
        .bind(grant.user_session_id.map(|id| id.to_string()))
        .bind(grant.session_id.map(|id| id.to_string()))
        .bind(grant.ip_address.as_deref())
        .bind(grant.user_agent.as_deref())
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("user code"));
        }
        Ok(())
    }

    /// Record a poll at `now`, and the interval the device must keep from now on.
    pub async fn record_poll(
        &mut self,
        grant: &mut DeviceCodeGrant,
        interval: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE oauth2_device_code_grants SET last_polled_at = $1, poll_interval = $2
             WHERE oauth2_device_code_grant_id = $3",
        )
        .bind(ms(now))
        .bind(interval.num_seconds())
        .bind(grant.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        grant.last_polled_at = Some(now);
        grant.interval = interval;
        Ok(())
    }

    /// The user approved the device (before it expired). False when it was already decided.
    pub async fn fulfil_device(
        &mut self,
        grant: &mut DeviceCodeGrant,
        user_id: Ulid,
        user_session_id: Option<Ulid>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oauth2_device_code_grants SET fulfilled_at = $1, user_id = $2, user_session_id = $3
             WHERE oauth2_device_code_grant_id = $4 AND expires_at > $1
               AND fulfilled_at IS NULL AND rejected_at IS NULL AND exchanged_at IS NULL",
        )
        .bind(ms(now))
        .bind(user_id.to_string())
        .bind(user_session_id.map(|id| id.to_string()))
        .bind(grant.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        grant.fulfilled_at = Some(now);
        grant.user_id = Some(user_id);
        grant.user_session_id = user_session_id;
        Ok(true)
    }

    /// The user declined the device. False when it was already decided.
    pub async fn reject_device(
        &mut self,
        grant: &mut DeviceCodeGrant,
        user_id: Ulid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oauth2_device_code_grants SET rejected_at = $1, user_id = $2
             WHERE oauth2_device_code_grant_id = $3
               AND fulfilled_at IS NULL AND rejected_at IS NULL AND exchanged_at IS NULL",
        )
        .bind(ms(now))
        .bind(user_id.to_string())
        .bind(grant.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        grant.rejected_at = Some(now);
        grant.user_id = Some(user_id);
        Ok(true)
    }

    /// Exchange an approved device code for `session_id`, exactly once.
    pub async fn exchange_device(
        &mut self,
        grant: &mut DeviceCodeGrant,
        session_id: Ulid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oauth2_device_code_grants SET exchanged_at = $1, oauth2_session_id = $2
             WHERE oauth2_device_code_grant_id = $3
               AND fulfilled_at IS NOT NULL AND rejected_at IS NULL AND exchanged_at IS NULL",
        )
        .bind(ms(now))
        .bind(session_id.to_string())
        .bind(grant.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        grant.exchanged_at = Some(now);
        grant.session_id = Some(session_id);
        Ok(true)
    }

    /// Delete the authorization and device grants made before `before` (housekeeping: by then
    /// none can be answered or exchanged); returns how many.
    pub async fn delete_created_before(
        &mut self,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for table in ["oauth2_authorization_grants", "oauth2_device_code_grants"] {
            deleted += sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE created_at < $1"
            )))
            .bind(ms(before))
            .execute(&mut *self.conn)
            .await?
            .rows_affected();
        }
        Ok(deleted)
    }

    /// Remember that the user consented to `scope` (but its device scopes) for the client.
    pub async fn add_consent(
        &mut self,
        user_id: Ulid,
        client_id: Ulid,
        scope: &Scope,
        clock: &dyn crate::domain::Clock,
    ) -> Result<(), StoreError> {
        for token in consentable(scope) {
            sqlx::query(
                "INSERT INTO oauth2_consents (oauth2_consent_id, user_id, oauth2_client_id, scope_token, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
            )
            .bind(crate::domain::ids::new_id(clock).to_string())
            .bind(user_id.to_string())
            .bind(client_id.to_string())
            .bind(token)
            .bind(ms(clock.now()))
            .execute(&mut *self.conn)
            .await?;
        }
        Ok(())
    }
}

//! The `oauth2_client_assertion_jtis` table: the `jti` of each accepted client assertion
//! (RFC 7523 §3), kept until the assertion expires so that it is accepted once only.

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::{Conn, StoreError, Write, codec::ms};

pub struct ClientAssertionRepo<'c, M> {
    conn: Conn<'c, M>,
}

impl<'c, M> ClientAssertionRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }
}

impl ClientAssertionRepo<'_, Write<'_>> {
    /// Record that `client_id` used `jti` in an assertion valid until `expires_at`. Returns
    /// `false` when the same pair is recorded and not yet expired at `now`: a replay. A row
    /// left over from an expired assertion is taken over (RFC 7523 §3 asks for uniqueness only
    /// while an assertion could be accepted), so a late housekeeping run refuses nothing.
    pub async fn use_jti(
        &mut self,
        client_id: Ulid,
        jti: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO oauth2_client_assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
             WHERE oauth2_client_assertion_jtis.expires_at <= $4",
        )
        .bind(client_id.to_string())
        .bind(jti)
        .bind(ms(expires_at))
        .bind(ms(now))
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Delete the rows of assertions expired before `before`: none of them can be replayed.
    pub async fn delete_expired(&mut self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM oauth2_client_assertion_jtis WHERE expires_at <= $1")
            .bind(ms(before))
            .execute(&mut *self.conn)
            .await?;
        Ok(done.rows_affected())
    }
}

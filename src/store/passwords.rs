//! The `user_passwords` table: every password a user had, newest last. The newest row is the
//! current password; a rehash on login adds a row pointing at the one it upgraded.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{get_opt_ulid, get_time, get_ulid, ms},
};

/// A stored password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct UserPassword {
    pub id: Ulid,
    pub user_id: Ulid,
    pub hashed_password: String,
    /// The `passwords.schemes[].version` that made the hash.
    pub version: u16,
    pub upgraded_from_id: Option<Ulid>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for UserPassword {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPassword")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("hashed_password", &crate::domain::redact::Redacted)
            .field("version", &self.version)
            .field("upgraded_from_id", &self.upgraded_from_id)
            .field("created_at", &self.created_at)
            .finish()
    }
}

pub struct PasswordRepo<'c, M> {
    conn: Conn<'c, M>,
}

fn password_from_row(row: &AnyRow) -> Result<UserPassword, StoreError> {
    let version: i64 = row.try_get("version")?;
    Ok(UserPassword {
        id: get_ulid(row, "user_password_id")?,
        user_id: get_ulid(row, "user_id")?,
        hashed_password: row.try_get("hashed_password")?,
        version: u16::try_from(version).map_err(|_| StoreError::Corrupt {
            column: "version",
            detail: format!("{version} is not a scheme version"),
        })?,
        upgraded_from_id: get_opt_ulid(row, "upgraded_from_id")?,
        created_at: get_time(row, "created_at")?,
    })
}

impl<'c, M> PasswordRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    /// The user's current password: the newest row (ULIDs sort by creation time).
    pub async fn active(&mut self, user_id: Ulid) -> Result<Option<UserPassword>, StoreError> {
        sqlx::query(
            "SELECT user_password_id, user_id, hashed_password, version, upgraded_from_id, created_at
             FROM user_passwords WHERE user_id = $1
             ORDER BY user_password_id DESC LIMIT 1",
        )
        .bind(user_id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(password_from_row)
        .transpose()
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl PasswordRepo<'_, Write<'_>> {
    pub async fn add(&mut self, password: &UserPassword) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO user_passwords (user_password_id, user_id, hashed_password, version, upgraded_from_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(password.id.to_string())
        .bind(password.user_id.to_string())
        .bind(&password.hashed_password)
        .bind(i64::from(password.version))
        .bind(password.upgraded_from_id.map(|id| id.to_string()))
        .bind(ms(password.created_at))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_hash() {
        let password = UserPassword {
            id: Ulid::nil(),
            user_id: Ulid::nil(),
            hashed_password: "$2b$12$somebcrypthashvalue".into(),
            version: 1,
            upgraded_from_id: None,
            created_at: DateTime::from_timestamp(1_000_000, 0).unwrap_or_default(),
        };
        let debug = format!("{password:?}");
        assert!(!debug.contains("somebcrypthashvalue"), "{debug}");
        assert!(debug.contains("hashed_password: [redacted]"), "{debug}");
    }
}

//! The `user_emails` table, and `user_unsupported_third_party_ids` for other 3PIDs (msisdn…)
//! carried over from Synapse so that nothing is dropped.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{get_time, get_ulid, ms},
    pagination::{Conditions, Page, Pagination, count, fetch_page},
};
use crate::domain::emails::UserEmail;

/// Filters of the admin email list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailFilter {
    pub user: Option<Ulid>,
    /// The address, compared without case.
    pub email: Option<String>,
}

impl EmailFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        if let Some(user) = self.user {
            c.text("e.user_id = {}", user.to_string());
        }
        if let Some(email) = &self.email {
            c.text("lower(e.email) = lower({})", email.clone());
        }
        c
    }
}

pub struct EmailRepo<'c, M> {
    conn: Conn<'c, M>,
}

/// A third-party identifier Gatehouse keeps but does not use (a phone number, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedThreepid {
    pub user_id: Ulid,
    pub medium: String,
    pub address: String,
    pub created_at: DateTime<Utc>,
}

fn email_from_row(row: &AnyRow) -> Result<UserEmail, StoreError> {
    Ok(UserEmail {
        id: get_ulid(row, "user_email_id")?,
        user_id: get_ulid(row, "user_id")?,
        email: row.try_get("email")?,
        created_at: get_time(row, "created_at")?,
    })
}

impl<'c, M> EmailRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    pub async fn list_for_user(&mut self, user_id: Ulid) -> Result<Vec<UserEmail>, StoreError> {
        sqlx::query(
            "SELECT user_email_id, user_id, email, created_at FROM user_emails
             WHERE user_id = $1 ORDER BY user_email_id",
        )
        .bind(user_id.to_string())
        .fetch_all(&mut *self.conn)
        .await?
        .iter()
        .map(email_from_row)
        .collect()
    }

    /// Users holding an address, compared without case (for login by email and uniqueness checks).
    pub async fn find_by_address(&mut self, address: &str) -> Result<Vec<UserEmail>, StoreError> {
        sqlx::query(
            "SELECT user_email_id, user_id, email, created_at FROM user_emails
             WHERE lower(email) = lower($1) ORDER BY user_email_id",
        )
        .bind(address)
        .fetch_all(&mut *self.conn)
        .await?
        .iter()
        .map(email_from_row)
        .collect()
    }

    pub async fn find(&mut self, id: Ulid) -> Result<Option<UserEmail>, StoreError> {
        sqlx::query(
            "SELECT user_email_id, user_id, email, created_at FROM user_emails WHERE user_email_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(email_from_row)
        .transpose()
    }

    /// One page of addresses matching `filter`, by id.
    pub async fn list(
        &mut self,
        filter: &EmailFilter,
        pagination: &Pagination,
    ) -> Result<Page<UserEmail>, StoreError> {
        fetch_page(
            &mut self.conn,
            "SELECT e.user_email_id, e.user_id, e.email, e.created_at FROM user_emails e",
            "e.user_email_id",
            filter.conditions(),
            pagination,
            email_from_row,
        )
        .await
    }

    pub async fn count_filtered(&mut self, filter: &EmailFilter) -> Result<u64, StoreError> {
        count(&mut self.conn, "FROM user_emails e", &filter.conditions()).await
    }

    pub async fn list_unsupported_threepids(
        &mut self,
        user_id: Ulid,
    ) -> Result<Vec<UnsupportedThreepid>, StoreError> {
        sqlx::query(
            "SELECT user_id, medium, address, created_at FROM user_unsupported_third_party_ids
             WHERE user_id = $1 ORDER BY medium, address",
        )
        .bind(user_id.to_string())
        .fetch_all(&mut *self.conn)
        .await?
        .iter()
        .map(|row| {
            Ok(UnsupportedThreepid {
                user_id: get_ulid(row, "user_id")?,
                medium: row.try_get("medium")?,
                address: row.try_get("address")?,
                created_at: get_time(row, "created_at")?,
            })
        })
        .collect()
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl EmailRepo<'_, Write<'_>> {
    /// Attach an address to a user. The same address twice on one user (in any case) is a
    /// [`StoreError::Conflict`].
    pub async fn add(&mut self, email: &UserEmail) -> Result<(), StoreError> {
        let exists: Option<String> = sqlx::query_scalar(
            "SELECT user_email_id FROM user_emails WHERE user_id = $1 AND lower(email) = lower($2)",
        )
        .bind(email.user_id.to_string())
        .bind(&email.email)
        .fetch_optional(&mut *self.conn)
        .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict("email address on this user"));
        }
        sqlx::query(
            "INSERT INTO user_emails (user_email_id, user_id, email, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(email.id.to_string())
        .bind(email.user_id.to_string())
        .bind(&email.email)
        .bind(ms(email.created_at))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    pub async fn remove(&mut self, id: Ulid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM user_emails WHERE user_email_id = $1")
            .bind(id.to_string())
            .execute(&mut *self.conn)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn add_unsupported_threepid(
        &mut self,
        threepid: &UnsupportedThreepid,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO user_unsupported_third_party_ids (user_id, medium, address, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(threepid.user_id.to_string())
        .bind(&threepid.medium)
        .bind(&threepid.address)
        .bind(ms(threepid.created_at))
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("third-party identifier"));
        }
        Ok(())
    }
}

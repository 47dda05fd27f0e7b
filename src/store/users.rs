//! The `users` table.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{flag, get_flag, get_opt_time, get_time, get_ulid, ms, opt_ms},
    pagination::{Conditions, Page, Pagination, count, fetch_offset, fetch_page, like_escape},
};
use crate::domain::users::User;

/// A user's state as the admin API filters on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Neither locked nor deactivated.
    Active,
    Locked,
    Deactivated,
}

/// Filters of the admin user list; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub admin: Option<bool>,
    pub legacy_guest: Option<bool>,
    /// Substring of the username.
    pub search: Option<String>,
    pub status: Option<UserStatus>,
    pub has_active_compat_session: Option<bool>,
    pub has_active_oauth2_session: Option<bool>,
    /// Users with an active OAuth 2.0 session of this client.
    pub active_oauth2_client: Option<Ulid>,
}

impl UserFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        if let Some(admin) = self.admin {
            // Literal values (not binds) so that the partial index on admins can be used.
            c.push(if admin {
                "u.can_request_admin = 1"
            } else {
                "u.can_request_admin = 0"
            });
        }
        if let Some(guest) = self.legacy_guest {
            c.push(if guest {
                "u.is_guest = 1"
            } else {
                "u.is_guest = 0"
            });
        }
        if let Some(search) = &self.search {
            c.text(
                "u.username LIKE {} ESCAPE '\\'",
                format!("%{}%", like_escape(search)),
            );
        }
        match self.status {
            Some(UserStatus::Active) => {
                c.push("u.locked_at IS NULL AND u.deactivated_at IS NULL");
            }
            Some(UserStatus::Locked) => c.push("u.locked_at IS NOT NULL"),
            Some(UserStatus::Deactivated) => c.push("u.deactivated_at IS NOT NULL"),
            None => {}
        }
        let exists =
            |active: bool, sub: &str| format!("{}EXISTS ({sub})", if active { "" } else { "NOT " });
        if let Some(active) = self.has_active_compat_session {
            c.push(&exists(
                active,
                "SELECT 1 FROM compat_sessions s WHERE s.user_id = u.user_id AND s.finished_at IS NULL",
            ));
        }
        if let Some(active) = self.has_active_oauth2_session {
            c.push(&exists(
                active,
                "SELECT 1 FROM oauth2_sessions s WHERE s.user_id = u.user_id AND s.finished_at IS NULL",
            ));
        }
        if let Some(client) = self.active_oauth2_client {
            c.text(
                "EXISTS (SELECT 1 FROM oauth2_sessions s WHERE s.user_id = u.user_id AND s.finished_at IS NULL AND s.oauth2_client_id = {})",
                client.to_string(),
            );
        }
        c
    }
}

/// The user list of Synapse's admin API (`GET /_synapse/admin/v2/users`): offset pagination,
/// ordered by username or creation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynapseUserQuery {
    /// Substring of the username.
    pub name: Option<String>,
    pub include_guests: bool,
    pub include_deactivated: bool,
    pub include_locked: bool,
    /// Order by creation instead of username.
    pub by_creation: bool,
    pub descending: bool,
    pub offset: u64,
    pub limit: u64,
}

impl SynapseUserQuery {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        if let Some(name) = &self.name {
            c.text(
                "u.username LIKE {} ESCAPE '\\'",
                format!("%{}%", like_escape(name)),
            );
        }
        if !self.include_guests {
            c.push("u.is_guest = 0");
        }
        if !self.include_deactivated {
            c.push("u.deactivated_at IS NULL");
        }
        if !self.include_locked {
            c.push("u.locked_at IS NULL");
        }
        c
    }
}

pub struct UserRepo<'c, M> {
    conn: Conn<'c, M>,
}

const COLUMNS: &str =
    "user_id, username, created_at, locked_at, deactivated_at, can_request_admin, is_guest";
const LIST_COLUMNS: &str = "u.user_id, u.username, u.created_at, u.locked_at, u.deactivated_at, u.can_request_admin, u.is_guest";

fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: get_ulid(row, "user_id")?,
        username: row.try_get("username")?,
        created_at: get_time(row, "created_at")?,
        locked_at: get_opt_time(row, "locked_at")?,
        deactivated_at: get_opt_time(row, "deactivated_at")?,
        can_request_admin: get_flag(row, "can_request_admin")?,
        is_guest: get_flag(row, "is_guest")?,
    })
}

impl<'c, M> UserRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    pub async fn find_by_id(&mut self, id: Ulid) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE user_id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    pub async fn find_by_username(&mut self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(&mut *self.conn)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    /// Users allowed to request admin scopes, by username.
    pub async fn list_admins(&mut self) -> Result<Vec<User>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM users WHERE can_request_admin = 1 ORDER BY username");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *self.conn)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    /// Every user id, oldest first (for jobs that touch everyone, e.g. provision-all-users).
    pub async fn all_ids(&mut self) -> Result<Vec<Ulid>, StoreError> {
        sqlx::query("SELECT user_id FROM users ORDER BY user_id")
            .fetch_all(&mut *self.conn)
            .await?
            .iter()
            .map(|row| get_ulid(row, "user_id"))
            .collect()
    }

    /// One page of users matching `filter`, by id (creation order).
    pub async fn list(
        &mut self,
        filter: &UserFilter,
        pagination: &Pagination,
    ) -> Result<Page<User>, StoreError> {
        fetch_page(
            &mut self.conn,
            &format!("SELECT {LIST_COLUMNS} FROM users u"),
            "u.user_id",
            filter.conditions(),
            pagination,
            user_from_row,
        )
        .await
    }

    /// A page of Synapse's user list and the total matching.
    pub async fn list_synapse(
        &mut self,
        query: &SynapseUserQuery,
    ) -> Result<(Vec<User>, u64), StoreError> {
        let conditions = query.conditions();
        let total = count(&mut self.conn, "FROM users u", &conditions).await?;
        let column = if query.by_creation {
            "u.user_id"
        } else {
            "u.username"
        };
        let direction = if query.descending { "DESC" } else { "ASC" };
        let page = fetch_offset(
            &mut self.conn,
            &format!("SELECT {LIST_COLUMNS} FROM users u"),
            &format!("{column} {direction}"),
            conditions,
            query.offset,
            query.limit,
            user_from_row,
        )
        .await?;
        Ok((page, total))
    }

    /// How many users match `filter`.
    pub async fn count_filtered(&mut self, filter: &UserFilter) -> Result<u64, StoreError> {
        count(&mut self.conn, "FROM users u", &filter.conditions()).await
    }

    pub async fn count(&mut self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM users")
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(count.max(0) as u64)
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl UserRepo<'_, Write<'_>> {
    /// Store a new user. A taken username is [`StoreError::Conflict`].
    pub async fn add(&mut self, user: &User) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (user_id, username, created_at, locked_at, deactivated_at, can_request_admin, is_guest)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING",
        )
        .bind(user.id.to_string())
        .bind(&user.username)
        .bind(ms(user.created_at))
        .bind(opt_ms(user.locked_at))
        .bind(opt_ms(user.deactivated_at))
        .bind(flag(user.can_request_admin))
        .bind(flag(user.is_guest))
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("username"));
        }
        Ok(())
    }

    pub async fn set_can_request_admin(
        &mut self,
        user: &mut User,
        admin: bool,
    ) -> Result<(), StoreError> {
        self.conn.ends_tokens_of(user.id);
        self.update_flags(user.id, "can_request_admin", Some(flag(admin)))
            .await?;
        user.can_request_admin = admin;
        Ok(())
    }

    /// Lock the user. Locking a locked user keeps the first lock time.
    pub async fn lock(&mut self, user: &mut User, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.ends_tokens_of(user.id);
        let at = user.locked_at.unwrap_or(now);
        self.update_flags(user.id, "locked_at", Some(ms(at)))
            .await?;
        user.locked_at = Some(at);
        Ok(())
    }

    pub async fn unlock(&mut self, user: &mut User) -> Result<(), StoreError> {
        self.update_flags(user.id, "locked_at", None).await?;
        user.locked_at = None;
        Ok(())
    }

    pub async fn deactivate(
        &mut self,
        user: &mut User,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.ends_tokens_of(user.id);
        let at = user.deactivated_at.unwrap_or(now);
        self.update_flags(user.id, "deactivated_at", Some(ms(at)))
            .await?;
        user.deactivated_at = Some(at);
        Ok(())
    }

    pub async fn reactivate(&mut self, user: &mut User) -> Result<(), StoreError> {
        self.update_flags(user.id, "deactivated_at", None).await?;
        user.deactivated_at = None;
        Ok(())
    }

    async fn update_flags(
        &mut self,
        id: Ulid,
        column: &'static str,
        value: Option<i64>,
    ) -> Result<(), StoreError> {
        // `column` is one of a fixed set of names chosen by the callers above, never input.
        let sql = format!("UPDATE users SET {column} = $1 WHERE user_id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .bind(id.to_string())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }
}

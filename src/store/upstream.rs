//! Upstream OAuth 2.0 / OIDC providers (`upstream_oauth_providers`), synced from the
//! `upstream_oauth2.providers` config section, and links to them (`upstream_oauth_links`),
//! written by the importer's bulk sink and the admin API for now, by upstream login later.

use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

pub use crate::domain::upstream::{UpstreamLink, UpstreamProvider};
use crate::domain::{scopes::Scope, upstream::UpstreamAuthMethod};

use super::{
    Conn, StoreError, Write,
    codec::{get_opt_time, get_opt_ulid, get_time, get_ulid, ms, opt_ms},
    pagination::{self, Conditions, Page, Pagination, fetch_page},
};

pub struct UpstreamRepo<'c, M> {
    conn: Conn<'c, M>,
}

const COLUMNS: &str = "upstream_oauth_provider_id, issuer, human_name, brand_name, synapse_idp_id, client_id,
    encrypted_client_secret, token_endpoint_auth_method, scope, ui_order, config, created_at, disabled_at";

fn provider_from_row(row: &AnyRow) -> Result<UpstreamProvider, StoreError> {
    let method: String = row.try_get("token_endpoint_auth_method")?;
    let token_endpoint_auth_method =
        UpstreamAuthMethod::parse(&method).map_err(|e| StoreError::Corrupt {
            column: "token_endpoint_auth_method",
            detail: e.to_string(),
        })?;
    let scope: String = row.try_get("scope")?;
    let scope = Scope::parse(&scope).map_err(|e| StoreError::Corrupt {
        column: "scope",
        detail: e.to_string(),
    })?;
    let config: String = row.try_get("config")?;
    let config = serde_json::from_str(&config).map_err(|e| StoreError::Corrupt {
        column: "config",
        detail: e.to_string(),
    })?;
    Ok(UpstreamProvider {
        id: get_ulid(row, "upstream_oauth_provider_id")?,
        issuer: row.try_get("issuer")?,
        human_name: row.try_get("human_name")?,
        brand_name: row.try_get("brand_name")?,
        synapse_idp_id: row.try_get("synapse_idp_id")?,
        client_id: row.try_get("client_id")?,
        encrypted_client_secret: row.try_get("encrypted_client_secret")?,
        token_endpoint_auth_method,
        scope,
        ui_order: row.try_get::<i64, _>("ui_order")?,
        config,
        created_at: get_time(row, "created_at")?,
        disabled_at: get_opt_time(row, "disabled_at")?,
    })
}

impl<'c, M> UpstreamRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    pub async fn list_providers(&mut self) -> Result<Vec<UpstreamProvider>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM upstream_oauth_providers ORDER BY ui_order, upstream_oauth_provider_id"
        )))
        .fetch_all(&mut *self.conn)
        .await?
        .iter()
        .map(provider_from_row)
        .collect()
    }

    /// The user a link (provider, subject) belongs to.
    pub async fn find_link_user(
        &mut self,
        provider_id: Ulid,
        subject: &str,
    ) -> Result<Option<Ulid>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id FROM upstream_oauth_links WHERE upstream_oauth_provider_id = $1 AND subject = $2",
        )
        .bind(provider_id.to_string())
        .bind(subject)
        .fetch_optional(&mut *self.conn)
        .await?;
        row.map(|row| get_ulid(&row, "user_id")).transpose()
    }

    pub async fn find_provider(
        &mut self,
        id: Ulid,
    ) -> Result<Option<UpstreamProvider>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PROVIDER_COLUMNS_P} FROM upstream_oauth_providers p WHERE p.upstream_oauth_provider_id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(provider_from_row)
        .transpose()
    }

    pub async fn page_providers(
        &mut self,
        filter: &UpstreamProviderFilter,
        pagination: &Pagination,
    ) -> Result<Page<UpstreamProvider>, StoreError> {
        fetch_page(
            &mut self.conn,
            &format!("SELECT {PROVIDER_COLUMNS_P} FROM upstream_oauth_providers p"),
            "p.upstream_oauth_provider_id",
            filter.conditions(),
            pagination,
            provider_from_row,
        )
        .await
    }

    pub async fn count_providers(
        &mut self,
        filter: &UpstreamProviderFilter,
    ) -> Result<u64, StoreError> {
        pagination::count(
            &mut self.conn,
            "FROM upstream_oauth_providers p",
            &filter.conditions(),
        )
        .await
    }

    pub async fn find_link(&mut self, id: Ulid) -> Result<Option<UpstreamLink>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LINK_COLUMNS} FROM upstream_oauth_links l WHERE l.upstream_oauth_link_id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?
        .as_ref()
        .map(link_from_row)
        .transpose()
    }

    pub async fn page_links(
        &mut self,
        filter: &UpstreamLinkFilter,
        pagination: &Pagination,
    ) -> Result<Page<UpstreamLink>, StoreError> {
        fetch_page(
            &mut self.conn,
            &format!("SELECT {LINK_COLUMNS} FROM upstream_oauth_links l"),
            "l.upstream_oauth_link_id",
            filter.conditions(),
            pagination,
            link_from_row,
        )
        .await
    }

    pub async fn count_links(&mut self, filter: &UpstreamLinkFilter) -> Result<u64, StoreError> {
        pagination::count(
            &mut self.conn,
            "FROM upstream_oauth_links l",
            &filter.conditions(),
        )
        .await
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl UpstreamRepo<'_, Write<'_>> {
    /// Insert the provider, or update every column but `created_at` when its id exists.
    pub async fn upsert_provider(&mut self, p: &UpstreamProvider) -> Result<(), StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO upstream_oauth_providers ({COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (upstream_oauth_provider_id) DO UPDATE SET
                issuer = excluded.issuer, human_name = excluded.human_name,
                brand_name = excluded.brand_name, synapse_idp_id = excluded.synapse_idp_id,
                client_id = excluded.client_id, encrypted_client_secret = excluded.encrypted_client_secret,
                token_endpoint_auth_method = excluded.token_endpoint_auth_method,
                scope = excluded.scope, ui_order = excluded.ui_order, config = excluded.config,
                disabled_at = excluded.disabled_at"
        )))
        .bind(p.id.to_string())
        .bind(p.issuer.as_deref())
        .bind(p.human_name.as_deref())
        .bind(p.brand_name.as_deref())
        .bind(p.synapse_idp_id.as_deref())
        .bind(p.client_id.as_str())
        .bind(p.encrypted_client_secret.as_deref())
        .bind(p.token_endpoint_auth_method.as_str())
        .bind(p.scope.to_string())
        .bind(p.ui_order)
        .bind(p.config.to_string())
        .bind(ms(p.created_at))
        .bind(opt_ms(p.disabled_at))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Insert a link. A (provider, subject) already linked is a [`StoreError::Conflict`].
    pub async fn add_link(&mut self, link: &UpstreamLink) -> Result<(), StoreError> {
        let exists: Option<String> = sqlx::query_scalar(
            "SELECT upstream_oauth_link_id FROM upstream_oauth_links
             WHERE upstream_oauth_provider_id = $1 AND subject = $2",
        )
        .bind(link.provider_id.to_string())
        .bind(&link.subject)
        .fetch_optional(&mut *self.conn)
        .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict("upstream OAuth link for this subject"));
        }
        sqlx::query(
            "INSERT INTO upstream_oauth_links
                (upstream_oauth_link_id, upstream_oauth_provider_id, user_id, subject, human_account_name, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(link.id.to_string())
        .bind(link.provider_id.to_string())
        .bind(link.user_id.map(|id| id.to_string()))
        .bind(&link.subject)
        .bind(link.human_account_name.as_deref())
        .bind(ms(link.created_at))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Delete a link; `false` when there was none.
    pub async fn delete_link(&mut self, id: Ulid) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM upstream_oauth_links WHERE upstream_oauth_link_id = $1")
                .bind(id.to_string())
                .execute(&mut *self.conn)
                .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Filters of the admin upstream provider list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamProviderFilter {
    /// `Some(true)`: only enabled providers (`disabled_at IS NULL`); `Some(false)`: only
    /// disabled ones.
    pub enabled: Option<bool>,
}

impl UpstreamProviderFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        match self.enabled {
            Some(true) => c.push("p.disabled_at IS NULL"),
            Some(false) => c.push("p.disabled_at IS NOT NULL"),
            None => {}
        }
        c
    }
}

/// Filters of the admin upstream link list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamLinkFilter {
    pub user: Option<Ulid>,
    pub provider: Option<Ulid>,
    pub subject: Option<String>,
    pub human_account_name: Option<String>,
}

impl UpstreamLinkFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        if let Some(user) = self.user {
            c.text("l.user_id = {}", user.to_string());
        }
        if let Some(provider) = self.provider {
            c.text("l.upstream_oauth_provider_id = {}", provider.to_string());
        }
        if let Some(subject) = &self.subject {
            c.text("l.subject = {}", subject.clone());
        }
        if let Some(name) = &self.human_account_name {
            c.text("l.human_account_name = {}", name.clone());
        }
        c
    }
}

const PROVIDER_COLUMNS_P: &str = "p.upstream_oauth_provider_id, p.issuer, p.human_name, p.brand_name, p.synapse_idp_id, p.client_id,
    p.encrypted_client_secret, p.token_endpoint_auth_method, p.scope, p.ui_order, p.config, p.created_at, p.disabled_at";

const LINK_COLUMNS: &str = "l.upstream_oauth_link_id, l.upstream_oauth_provider_id, l.user_id, l.subject, l.human_account_name, l.created_at";

fn link_from_row(row: &AnyRow) -> Result<UpstreamLink, StoreError> {
    Ok(UpstreamLink {
        id: get_ulid(row, "upstream_oauth_link_id")?,
        provider_id: get_ulid(row, "upstream_oauth_provider_id")?,
        user_id: get_opt_ulid(row, "user_id")?,
        subject: row.try_get("subject")?,
        human_account_name: row.try_get("human_account_name")?,
        created_at: get_time(row, "created_at")?,
    })
}

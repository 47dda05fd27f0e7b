//! The `oauth2_clients` table: persists [`OAuth2Client`]s. For now it holds the static clients of
//! the `clients` config section (`config sync`); dynamic registration adds rows later. MAS's
//! columns: one flag per grant type, the redirect URIs as a JSON array.

use sqlx::{Row, any::AnyRow};
use ulid::Ulid;
use url::Url;

pub use crate::domain::oauth2_clients::OAuth2Client;
use crate::domain::oauth2_clients::{GrantType, GrantTypes, TokenEndpointAuthMethod};

use super::{
    Conn, StoreError, Write,
    codec::{flag, get_flag, get_time, get_ulid, ms},
    pagination::{self, Conditions, Page, Pagination, fetch_page, like_escape},
};

/// Grant types an admin can filter clients by: the domain's.
pub type GrantTypeFilter = GrantType;

/// Filters of the admin OAuth 2.0 client list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuth2ClientFilter {
    /// `Some(true)`: only clients from the configuration; `Some(false)`: only registered ones.
    pub is_static: Option<bool>,
    /// Substring of the client name.
    pub client_name: Option<String>,
    /// The exact client URI.
    pub client_uri: Option<String>,
    pub grant_type: Option<GrantTypeFilter>,
    /// Has (`true`) or has not (`false`) at least one active OAuth 2.0 session.
    pub has_active_sessions: Option<bool>,
}

impl OAuth2ClientFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        match self.is_static {
            Some(true) => c.push("c.is_static = 1"),
            Some(false) => c.push("c.is_static = 0"),
            None => {}
        }
        if let Some(name) = &self.client_name {
            c.text(
                "c.client_name LIKE {} ESCAPE '\\'",
                format!("%{}%", like_escape(name)),
            );
        }
        if let Some(uri) = &self.client_uri {
            c.text("c.client_uri = {}", uri.clone());
        }
        if let Some(grant) = self.grant_type {
            c.push(match grant {
                GrantType::AuthorizationCode => "c.grant_type_authorization_code = 1",
                GrantType::RefreshToken => "c.grant_type_refresh_token = 1",
                GrantType::ClientCredentials => "c.grant_type_client_credentials = 1",
                GrantType::DeviceCode => "c.grant_type_device_code = 1",
            });
        }
        // An index range of `oauth2_sessions_client_id` per client.
        const ACTIVE: &str = "EXISTS (SELECT 1 FROM oauth2_sessions o WHERE o.oauth2_client_id = c.oauth2_client_id AND o.finished_at IS NULL)";
        match self.has_active_sessions {
            Some(true) => c.push(ACTIVE),
            Some(false) => c.push(&format!("NOT {ACTIVE}")),
            None => {}
        }
        c
    }
}

pub struct OAuth2ClientRepo<'c, M> {
    conn: Conn<'c, M>,
}

const COLUMNS: &str = "oauth2_client_id, is_static, encrypted_client_secret, token_endpoint_auth_method, jwks, jwks_uri,
    redirect_uris, client_name, client_uri, grant_type_authorization_code, grant_type_refresh_token,
    grant_type_client_credentials, grant_type_device_code, metadata, created_at";

fn client_from_row(row: &AnyRow) -> Result<OAuth2Client, StoreError> {
    let redirect_uris: String = row.try_get("redirect_uris")?;
    let redirect_uris: Vec<Url> =
        serde_json::from_str(&redirect_uris).map_err(|e| StoreError::Corrupt {
            column: "redirect_uris",
            detail: e.to_string(),
        })?;
    let token_endpoint_auth_method = row
        .try_get::<Option<String>, _>("token_endpoint_auth_method")?
        .map(|name| TokenEndpointAuthMethod::parse(&name))
        .transpose()
        .map_err(|e| StoreError::Corrupt {
            column: "token_endpoint_auth_method",
            detail: e.to_string(),
        })?;
    let grant_types = GrantTypes::empty()
        .with(
            GrantType::AuthorizationCode,
            get_flag(row, "grant_type_authorization_code")?,
        )
        .with(
            GrantType::RefreshToken,
            get_flag(row, "grant_type_refresh_token")?,
        )
        .with(
            GrantType::ClientCredentials,
            get_flag(row, "grant_type_client_credentials")?,
        )
        .with(
            GrantType::DeviceCode,
            get_flag(row, "grant_type_device_code")?,
        );
    let metadata: String = row.try_get("metadata")?;
    let metadata = serde_json::from_str(&metadata).map_err(|e| StoreError::Corrupt {
        column: "metadata",
        detail: e.to_string(),
    })?;
    Ok(OAuth2Client {
        id: get_ulid(row, "oauth2_client_id")?,
        is_static: get_flag(row, "is_static")?,
        encrypted_client_secret: row.try_get("encrypted_client_secret")?,
        token_endpoint_auth_method,
        jwks: row.try_get("jwks")?,
        jwks_uri: row.try_get("jwks_uri")?,
        redirect_uris,
        client_name: row.try_get("client_name")?,
        client_uri: row.try_get("client_uri")?,
        grant_types,
        metadata,
        created_at: get_time(row, "created_at")?,
    })
}

impl<'c, M> OAuth2ClientRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    pub async fn find(&mut self, id: Ulid) -> Result<Option<OAuth2Client>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM oauth2_clients WHERE oauth2_client_id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn)
            .await?
            .as_ref()
            .map(client_from_row)
            .transpose()
    }

    /// The oldest dynamically registered public client whose registration had this digest.
    pub async fn find_registered(
        &mut self,
        metadata_digest: &str,
    ) -> Result<Option<OAuth2Client>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM oauth2_clients
             WHERE metadata_digest = $1 AND is_static = 0 AND token_endpoint_auth_method = 'none'
             ORDER BY oauth2_client_id LIMIT 1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(metadata_digest)
            .fetch_optional(&mut *self.conn)
            .await?
            .as_ref()
            .map(client_from_row)
            .transpose()
    }

    pub async fn list_static(&mut self) -> Result<Vec<OAuth2Client>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM oauth2_clients WHERE is_static = 1 ORDER BY oauth2_client_id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *self.conn)
            .await?
            .iter()
            .map(client_from_row)
            .collect()
    }

    pub async fn list(
        &mut self,
        filter: &OAuth2ClientFilter,
        pagination: &Pagination,
    ) -> Result<Page<OAuth2Client>, StoreError> {
        fetch_page(
            &mut self.conn,
            &format!("SELECT {COLUMNS} FROM oauth2_clients c"),
            "c.oauth2_client_id",
            filter.conditions(),
            pagination,
            client_from_row,
        )
        .await
    }

    pub async fn count(&mut self, filter: &OAuth2ClientFilter) -> Result<u64, StoreError> {
        pagination::count(
            &mut self.conn,
            "FROM oauth2_clients c",
            &filter.conditions(),
        )
        .await
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl OAuth2ClientRepo<'_, Write<'_>> {
    /// Insert the client, or replace every field of an existing one with the same id.
    pub async fn upsert(&mut self, client: &OAuth2Client) -> Result<(), StoreError> {
        self.write(client, None).await
    }

    /// Insert a dynamically registered client, remembering the digest of its registration so an
    /// identical public registration can be answered with it ([`Self::find_registered`]).
    pub async fn insert_registered(
        &mut self,
        client: &OAuth2Client,
        metadata_digest: &str,
    ) -> Result<(), StoreError> {
        self.write(client, Some(metadata_digest)).await
    }

    async fn write(
        &mut self,
        client: &OAuth2Client,
        metadata_digest: Option<&str>,
    ) -> Result<(), StoreError> {
        let corrupt = |column: &'static str| {
            move |e: serde_json::Error| StoreError::Corrupt {
                column,
                detail: e.to_string(),
            }
        };
        let redirect_uris =
            serde_json::to_string(&client.redirect_uris).map_err(corrupt("redirect_uris"))?;
        let metadata = serde_json::to_string(&client.metadata).map_err(corrupt("metadata"))?;
        sqlx::query(
            "INSERT INTO oauth2_clients (oauth2_client_id, is_static, encrypted_client_secret, token_endpoint_auth_method,
                 jwks, jwks_uri, redirect_uris, client_name, client_uri, grant_type_authorization_code,
                 grant_type_refresh_token, grant_type_client_credentials, grant_type_device_code, metadata,
                 metadata_digest, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (oauth2_client_id) DO UPDATE SET
                 is_static = excluded.is_static,
                 encrypted_client_secret = excluded.encrypted_client_secret,
                 token_endpoint_auth_method = excluded.token_endpoint_auth_method,
                 jwks = excluded.jwks,
                 jwks_uri = excluded.jwks_uri,
                 redirect_uris = excluded.redirect_uris,
                 client_name = excluded.client_name,
                 client_uri = excluded.client_uri,
                 grant_type_authorization_code = excluded.grant_type_authorization_code,
                 grant_type_refresh_token = excluded.grant_type_refresh_token,
                 grant_type_client_credentials = excluded.grant_type_client_credentials,
                 grant_type_device_code = excluded.grant_type_device_code,
                 metadata = excluded.metadata,
                 metadata_digest = excluded.metadata_digest",
        )
        .bind(client.id.to_string())
        .bind(flag(client.is_static))
        .bind(client.encrypted_client_secret.as_deref())
        .bind(client.token_endpoint_auth_method.map(TokenEndpointAuthMethod::as_str))
        .bind(client.jwks.as_deref())
        .bind(client.jwks_uri.as_deref())
        .bind(redirect_uris)
        .bind(client.client_name.as_deref())
        .bind(client.client_uri.as_deref())
        .bind(flag(client.allows_grant(GrantType::AuthorizationCode)))
        .bind(flag(client.allows_grant(GrantType::RefreshToken)))
        .bind(flag(client.allows_grant(GrantType::ClientCredentials)))
        .bind(flag(client.allows_grant(GrantType::DeviceCode)))
        .bind(metadata)
        .bind(metadata_digest)
        .bind(ms(client.created_at))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    pub async fn delete(&mut self, id: Ulid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM oauth2_clients WHERE oauth2_client_id = $1")
            .bind(id.to_string())
            .execute(&mut *self.conn)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

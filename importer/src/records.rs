//! The neutral records a migration produces. Times are unix milliseconds; token strings are the
//! exact strings Synapse issued (the sink decides how to store them).

use ulid::Ulid;

/// A Synapse user (`users` row) that is carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Ulid,
    /// The localpart of `@localpart:server_name`.
    pub localpart: String,
    pub created_at_ms: i64,
    /// Synapse's bcrypt hash, `None` for users without a password (SSO-only, guests,
    /// appservice users' `''`, …). Stored as password scheme version 1.
    pub password: Option<PasswordRecord>,
    /// Synapse `admin`: may request admin scopes, and migrated sessions keep Synapse admin rights.
    pub admin: bool,
    pub locked_at_ms: Option<i64>,
    pub deactivated_at_ms: Option<i64>,
    pub is_guest: bool,
}

/// A password hash carried over as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRecord {
    pub id: Ulid,
    pub hash: String,
}

/// A verified email address (`user_threepids` with medium `email`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailRecord {
    pub id: Ulid,
    pub user_id: Ulid,
    pub address: String,
    pub created_at_ms: i64,
}

/// Another third-party identifier (a phone number, say), kept so that nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedThreepidRecord {
    pub user_id: Ulid,
    pub medium: String,
    pub address: String,
    pub created_at_ms: i64,
}

/// A link to an upstream identity provider (`user_external_ids`), already mapped to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamLinkRecord {
    pub id: Ulid,
    pub user_id: Ulid,
    pub provider_id: Ulid,
    pub subject: String,
    pub created_at_ms: i64,
}

/// A Synapse device (or a device-less token) becomes one compatibility session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatSessionRecord {
    pub id: Ulid,
    pub user_id: Ulid,
    pub device_id: Option<String>,
    pub display_name: Option<String>,
    pub created_at_ms: i64,
    pub last_active_at_ms: Option<i64>,
    pub last_active_ip: Option<String>,
    pub user_agent: Option<String>,
    pub is_synapse_admin: bool,
}

/// An access token, with its exact Synapse string so that clients stay logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    pub id: Ulid,
    pub session_id: Ulid,
    pub token: String,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
}

/// A refresh token paired with the access token it refreshes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: Ulid,
    pub session_id: Ulid,
    pub access_token_id: Ulid,
    pub token: String,
    pub created_at_ms: i64,
}

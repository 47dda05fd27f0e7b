//! OAuth 2.0 clients: how each authenticates at the token endpoint (RFC 7591 §2
//! `token_endpoint_auth_method`), which grants it may use, and where it may be redirected.
//! Static clients come from the `clients` config section; dynamic registration adds others.

use std::fmt;

use chrono::{DateTime, Utc};
use ulid::Ulid;
use url::Url;

pub use super::client_registration::{ApplicationType, ClientMetadata};

/// RFC 7591 §2 `token_endpoint_auth_method` (with OIDC Core §9's JWT methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenEndpointAuthMethod {
    /// A public client: no authentication.
    None,
    ClientSecretBasic,
    ClientSecretPost,
    ClientSecretJwt,
    PrivateKeyJwt,
}

/// A `token_endpoint_auth_method` this server does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token endpoint auth method {0:?}")]
pub struct UnknownAuthMethod(pub String);

impl TokenEndpointAuthMethod {
    pub const ALL: [Self; 5] = [
        Self::None,
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::ClientSecretJwt,
        Self::PrivateKeyJwt,
    ];

    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Read an RFC 7591 name (exact, case-sensitive as the registry defines them).
    pub fn parse(name: &str) -> Result<Self, UnknownAuthMethod> {
        Self::ALL
            .into_iter()
            .find(|method| method.as_str() == name)
            .ok_or_else(|| UnknownAuthMethod(name.to_owned()))
    }

    /// Whether the client proves itself with a shared secret (and so has one stored).
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt
        )
    }
}

impl fmt::Display for TokenEndpointAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TokenEndpointAuthMethod {
    type Err = UnknownAuthMethod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A grant type a client may use at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8628's device authorization grant.
    DeviceCode,
}

/// A `grant_type` this server does not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported grant type {0:?}")]
pub struct UnknownGrantType(pub String);

impl GrantType {
    pub const ALL: [Self; 4] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::DeviceCode,
    ];

    /// The `grant_type` value (RFC 6749 §4, RFC 8628 §3.4).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    pub fn parse(name: &str) -> Result<Self, UnknownGrantType> {
        Self::ALL
            .into_iter()
            .find(|grant| grant.as_str() == name)
            .ok_or_else(|| UnknownGrantType(name.to_owned()))
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for GrantType {
    type Err = UnknownGrantType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The set of grant types a client may use. Iterates in [`GrantType::ALL`] order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct GrantTypes(u8);

impl GrantTypes {
    pub const fn empty() -> Self {
        Self(0)
    }

    pub fn insert(&mut self, grant: GrantType) {
        self.0 |= grant.bit();
    }

    pub fn remove(&mut self, grant: GrantType) {
        self.0 &= !grant.bit();
    }

    /// `self` with `grant` added when `allowed`.
    #[must_use]
    pub fn with(mut self, grant: GrantType, allowed: bool) -> Self {
        if allowed {
            self.insert(grant);
        }
        self
    }

    pub fn contains(self, grant: GrantType) -> bool {
        self.0 & grant.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = GrantType> {
        GrantType::ALL
            .into_iter()
            .filter(move |grant| self.contains(*grant))
    }
}

impl FromIterator<GrantType> for GrantTypes {
    fn from_iter<I: IntoIterator<Item = GrantType>>(iter: I) -> Self {
        let mut set = Self::empty();
        for grant in iter {
            set.insert(grant);
        }
        set
    }
}

impl fmt::Debug for GrantTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(GrantType::as_str))
            .finish()
    }
}

/// An OAuth 2.0 client. The secret is kept encrypted with `secrets.encryption`.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuth2Client {
    pub id: Ulid,
    /// From the `clients` section of the configuration (as opposed to registered).
    pub is_static: bool,
    pub encrypted_client_secret: Option<String>,
    /// `None` when the registration did not say (RFC 7591 §2 then means `client_secret_basic`;
    /// callers decide).
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// JSON text of the client's JWKS, if given inline.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    /// The registered redirect URIs, in registration order.
    pub redirect_uris: Vec<Url>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub grant_types: GrantTypes,
    /// What a registration said beyond the fields above (logo, terms, localized names…).
    pub metadata: ClientMetadata,
    pub created_at: DateTime<Utc>,
}

impl OAuth2Client {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(grant)
    }
}

impl fmt::Debug for OAuth2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Client")
            .field("id", &self.id)
            .field("is_static", &self.is_static)
            .field("has_secret", &self.encrypted_client_secret.is_some())
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("redirect_uris", &self.redirect_uris)
            .field("client_name", &self.client_name)
            .field("grant_types", &self.grant_types)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_method_names_round_trip() {
        let names = [
            "none",
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
        ];
        for (method, name) in TokenEndpointAuthMethod::ALL.into_iter().zip(names) {
            assert_eq!(method.as_str(), name);
            assert_eq!(TokenEndpointAuthMethod::parse(name), Ok(method));
        }
        assert!(TokenEndpointAuthMethod::parse("Client_Secret_Basic").is_err());
        assert!(TokenEndpointAuthMethod::parse("tls_client_auth").is_err());
        assert!(TokenEndpointAuthMethod::ClientSecretJwt.uses_secret());
        assert!(!TokenEndpointAuthMethod::PrivateKeyJwt.uses_secret());
        assert!(!TokenEndpointAuthMethod::None.uses_secret());
    }

    #[test]
    fn grant_type_set() {
        for grant in GrantType::ALL {
            assert_eq!(GrantType::parse(grant.as_str()), Ok(grant));
        }
        assert_eq!(
            GrantType::DeviceCode.as_str(),
            "urn:ietf:params:oauth:grant-type:device_code"
        );
        assert!(GrantType::parse("password").is_err());

        let mut set: GrantTypes = [GrantType::DeviceCode, GrantType::AuthorizationCode]
            .into_iter()
            .collect();
        assert!(set.contains(GrantType::AuthorizationCode));
        assert!(!set.contains(GrantType::RefreshToken));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [GrantType::AuthorizationCode, GrantType::DeviceCode],
            "canonical order, whatever the insertion order"
        );
        set.remove(GrantType::DeviceCode);
        set.insert(GrantType::AuthorizationCode);
        assert_eq!(set.iter().count(), 1);
        assert!(GrantTypes::empty().is_empty());
        assert_eq!(
            format!("{set:?}"),
            r#"{"authorization_code"}"#,
            "Debug names the grants"
        );
    }
}

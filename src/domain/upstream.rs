//! Upstream OAuth 2.0 / OIDC providers users may sign in through, and the links between an
//! account there (provider, subject) and a local user.

use std::fmt;

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::{
    oauth2_clients::{TokenEndpointAuthMethod, UnknownAuthMethod},
    scopes::Scope,
};

/// How Gatehouse authenticates to a provider's token endpoint: one of RFC 7591's methods, or
/// Apple's own scheme (a client secret JWT minted per request, as MAS calls it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamAuthMethod {
    Standard(TokenEndpointAuthMethod),
    SignInWithApple,
}

impl UpstreamAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard(method) => method.as_str(),
            Self::SignInWithApple => "sign_in_with_apple",
        }
    }

    pub fn parse(name: &str) -> Result<Self, UnknownAuthMethod> {
        if name == "sign_in_with_apple" {
            return Ok(Self::SignInWithApple);
        }
        TokenEndpointAuthMethod::parse(name).map(Self::Standard)
    }
}

impl fmt::Display for UpstreamAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An upstream provider. The client secret is encrypted with `secrets.encryption`.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamProvider {
    pub id: Ulid,
    pub issuer: Option<String>,
    pub human_name: Option<String>,
    pub brand_name: Option<String>,
    pub synapse_idp_id: Option<String>,
    pub client_id: String,
    pub encrypted_client_secret: Option<String>,
    pub token_endpoint_auth_method: UpstreamAuthMethod,
    /// What Gatehouse asks the provider for.
    pub scope: Scope,
    pub ui_order: i64,
    /// The rest of the provider's configuration (without the secret), as a JSON object.
    pub config: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl UpstreamProvider {
    pub fn is_enabled(&self) -> bool {
        self.disabled_at.is_none()
    }
}

impl fmt::Debug for UpstreamProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamProvider")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("synapse_idp_id", &self.synapse_idp_id)
            .field("client_id", &self.client_id)
            .field("has_secret", &self.encrypted_client_secret.is_some())
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .finish_non_exhaustive()
    }
}

/// A link between an upstream account (provider, subject) and a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamLink {
    pub id: Ulid,
    pub provider_id: Ulid,
    /// `None` while a login through the provider has not been linked to a user yet.
    pub user_id: Option<Ulid>,
    pub subject: String,
    pub human_account_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_auth_methods() {
        assert_eq!(
            UpstreamAuthMethod::parse("sign_in_with_apple"),
            Ok(UpstreamAuthMethod::SignInWithApple)
        );
        for method in TokenEndpointAuthMethod::ALL {
            let upstream = UpstreamAuthMethod::parse(method.as_str()).expect("known");
            assert_eq!(upstream, UpstreamAuthMethod::Standard(method));
            assert_eq!(upstream.as_str(), method.as_str());
        }
        assert!(UpstreamAuthMethod::parse("basic").is_err());
    }
}

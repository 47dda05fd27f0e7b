//! Dynamic client registration (RFC 7591): reading a registration request and deciding, by the
//! server's client-registration policy, whether it may become a client.
//!
//! The default policy is the one Matrix clients expect of an auth server: a client says where it
//! lives (`client_uri`, an https address on the standard port); its logo, terms and policy pages
//! live on that host or below it; web clients are redirected only to https addresses on that host;
//! native clients (RFC 8252) to loopback `http` on any port or to a private-use scheme spelled as
//! the reverse of the `client_uri` host (`io.element:/callback` for `https://element.io/`).
//! `policy.data.client_registration` relaxes it (see [`RegistrationPolicy`]).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::{Host, Url};

use super::oauth2_clients::{GrantType, GrantTypes, TokenEndpointAuthMethod};

/// At most this many redirect URIs per client.
pub const MAX_REDIRECT_URIS: usize = 20;
/// At most this many contacts per client.
pub const MAX_CONTACTS: usize = 10;
/// Longest URI accepted in any field.
pub const MAX_URI_LENGTH: usize = 2048;
/// Longest text accepted in a name or contact field.
pub const MAX_TEXT_LENGTH: usize = 512;
/// At most this many localized (`field#lang`) values in all.
pub const MAX_LOCALIZED_VALUES: usize = 32;
/// Largest inline JWK set, as JSON text.
pub const MAX_JWKS_LENGTH: usize = 16 * 1024;

/// `policy.data.client_registration`: switches that relax the default registration policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistrationPolicy {
    /// Accept `http` and loopback addresses where https on a public host is required.
    pub allow_insecure_uris: bool,
    /// Accept logo, terms, policy and web redirect URIs on hosts other than `client_uri`'s.
    pub allow_host_mismatch: bool,
    /// Accept clients that do not give a `client_uri`.
    pub allow_missing_client_uri: bool,
    /// Accept clients that give no `contacts`. On by default: Matrix clients send none.
    pub allow_missing_contacts: bool,
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        Self {
            allow_insecure_uris: false,
            allow_host_mismatch: false,
            allow_missing_client_uri: false,
            allow_missing_contacts: true,
        }
    }
}

/// RFC 7591 §2 `application_type` (from OpenID Connect Dynamic Registration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationType {
    #[default]
    Web,
    Native,
}

impl ApplicationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }
}

/// The descriptive metadata a client registered, beyond what the token endpoint needs. Static
/// clients have the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    pub application_type: ApplicationType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// Localized values by their RFC 7591 §2.2 member name (`client_name#fr`, `logo_uri#de`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub localized: BTreeMap<String, String>,
    /// `response_types`, as registered (`code`, `code id_token`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
}

/// A registration request that passed the policy: everything needed to store the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRegistration {
    pub redirect_uris: Vec<Url>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub grant_types: GrantTypes,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    /// The inline JWK set (`private_key_jwt`), as JSON text.
    pub jwks: Option<String>,
    pub metadata: ClientMetadata,
}

impl ValidRegistration {
    /// Whether the client is confidential and so gets a secret.
    pub fn needs_secret(&self) -> bool {
        self.token_endpoint_auth_method.uses_secret()
    }

    /// SHA-256 of the registration's canonical JSON: two requests that register the same public
    /// client have the same digest, so the second can be given the first's client id.
    pub fn digest(&self) -> String {
        let canonical = serde_json::json!({
            "redirect_uris": self.redirect_uris.iter().map(Url::as_str).collect::<Vec<_>>(),
            "token_endpoint_auth_method": self.token_endpoint_auth_method.as_str(),
            "grant_types": self.grant_types.iter().map(GrantType::as_str).collect::<Vec<_>>(),
            "client_name": self.client_name,
            "client_uri": self.client_uri,
            "jwks": self.jwks,
            "metadata": self.metadata,
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// Why a registration was refused: RFC 7591 §3.2.2's two error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("invalid redirect_uri: {0}")]
    InvalidRedirectUri(String),
    #[error("invalid client metadata: {0}")]
    InvalidClientMetadata(String),
}

fn bad(message: impl Into<String>) -> RegistrationError {
    RegistrationError::InvalidClientMetadata(message.into())
}

/// The fields a request may localize (RFC 7591 §2.2).
const LOCALIZABLE: [&str; 5] = [
    "client_name",
    "client_uri",
    "logo_uri",
    "tos_uri",
    "policy_uri",
];

/// Read and check a registration request (the JSON object a client POSTed).
///
/// `signing_algorithms` are the JWS algorithms this server can sign ID tokens with.
pub fn validate(
    request: &Map<String, Value>,
    policy: &RegistrationPolicy,
    signing_algorithms: &[&str],
) -> Result<ValidRegistration, RegistrationError> {
    if request.contains_key("jwks_uri") {
        // Fetching a key set from an address any anonymous caller names would let them make this
        // server send requests into its own network.
        return Err(bad(
            "jwks_uri is not accepted at registration; send the key set inline as jwks",
        ));
    }

    let method = match optional_text(request, "token_endpoint_auth_method")? {
        // RFC 7591 §2: the default is client_secret_basic.
        None => TokenEndpointAuthMethod::ClientSecretBasic,
        Some(name) => TokenEndpointAuthMethod::parse(&name).map_err(|_| {
            bad(format!(
                "token_endpoint_auth_method {name:?} is not supported"
            ))
        })?,
    };

    let grant_types = match request.get("grant_types") {
        None => GrantTypes::empty().with(GrantType::AuthorizationCode, true),
        Some(_) => {
            let mut set = GrantTypes::empty();
            for name in text_list(request, "grant_types", GrantType::ALL.len() * 2)? {
                let grant = GrantType::parse(&name)
                    .map_err(|_| bad(format!("grant type {name:?} is not supported")))?;
                set.insert(grant);
            }
            set
        }
    };

    let response_types = match request.get("response_types") {
        // RFC 7591 §2: `code` by default, for a client that uses the code grant.
        None if grant_types.contains(GrantType::AuthorizationCode) => vec!["code".to_owned()],
        None => Vec::new(),
        Some(_) => text_list(request, "response_types", 4)?,
    };
    for response_type in &response_types {
        if !matches!(response_type.as_str(), "code" | "code id_token") {
            return Err(bad(format!(
                "response type {response_type:?} is not supported (use code)"
            )));
        }
    }
    // RFC 7591 §2.1: the code response type goes with the authorization_code grant.
    if !response_types.is_empty() && !grant_types.contains(GrantType::AuthorizationCode) {
        return Err(bad(
            "response_types code needs the authorization_code grant type",
        ));
    }
    if grant_types.contains(GrantType::AuthorizationCode) && response_types.is_empty() {
        return Err(bad(
            "the authorization_code grant type needs response_types code",
        ));
    }
    if grant_types.contains(GrantType::ClientCredentials) && method == TokenEndpointAuthMethod::None
    {
        return Err(bad(
            "the client_credentials grant type needs client authentication, not none",
        ));
    }

    let application_type = match optional_text(request, "application_type")?.as_deref() {
        None | Some("web") => ApplicationType::Web,
        Some("native") => ApplicationType::Native,
        Some(other) => {
            return Err(bad(format!(
                "application_type {other:?} is not one of web, native"
            )));
        }
    };

    let rules = UriRules::new(request, policy)?;
    let client_uri = rules.client_uri.as_ref().map(|u| u.as_str().to_owned());
    let logo_uri = rules.page_uri(request, "logo_uri")?;
    let tos_uri = rules.page_uri(request, "tos_uri")?;
    let policy_uri = rules.page_uri(request, "policy_uri")?;
    let client_name = optional_text(request, "client_name")?;

    let mut localized = BTreeMap::new();
    for (key, value) in request {
        let Some((field, language)) = key.split_once('#') else {
            continue;
        };
        if !LOCALIZABLE.contains(&field) {
            return Err(bad(format!("{key} is not a field that can be localized")));
        }
        if !is_language_tag(language) {
            return Err(bad(format!("{key}: {language:?} is not a language tag")));
        }
        if localized.len() == MAX_LOCALIZED_VALUES {
            return Err(bad(format!(
                "at most {MAX_LOCALIZED_VALUES} localized values"
            )));
        }
        let text = as_text(key, value)?;
        if field != "client_name" {
            rules.check_page_uri(key, &text)?;
        }
        localized.insert(key.clone(), text);
    }

    let contacts = match request.get("contacts") {
        None => Vec::new(),
        Some(_) => text_list(request, "contacts", MAX_CONTACTS)?,
    };
    if contacts.is_empty() && !policy.allow_missing_contacts {
        return Err(bad("contacts are required"));
    }

    let grant_uses_redirect = grant_types.contains(GrantType::AuthorizationCode);
    let redirect_uris = match request.get("redirect_uris") {
        None => Vec::new(),
        Some(_) => text_list(request, "redirect_uris", MAX_REDIRECT_URIS)?,
    };
    if grant_uses_redirect && redirect_uris.is_empty() {
        return Err(RegistrationError::InvalidRedirectUri(
            "the authorization_code grant type needs at least one redirect_uri".to_owned(),
        ));
    }
    let redirect_uris = redirect_uris
        .iter()
        .map(|uri| rules.redirect_uri(uri, application_type))
        .collect::<Result<Vec<_>, _>>()?;

    let jwks = match request.get("jwks") {
        None => None,
        Some(_) if method != TokenEndpointAuthMethod::PrivateKeyJwt => {
            return Err(bad("jwks is only used with private_key_jwt"));
        }
        Some(value) => {
            let keys = value.get("keys").and_then(Value::as_array);
            if keys.is_none_or(|keys| keys.is_empty()) {
                return Err(bad("jwks must be a JWK set with at least one key"));
            }
            let text = value.to_string();
            if text.len() > MAX_JWKS_LENGTH {
                return Err(bad(format!("jwks is over {MAX_JWKS_LENGTH} bytes")));
            }
            Some(text)
        }
    };
    if method == TokenEndpointAuthMethod::PrivateKeyJwt && jwks.is_none() {
        return Err(bad("private_key_jwt needs jwks"));
    }

    let id_token_signed_response_alg =
        signing_alg(request, "id_token_signed_response_alg", signing_algorithms)?;
    let userinfo_signed_response_alg =
        signing_alg(request, "userinfo_signed_response_alg", signing_algorithms)?;
    let token_endpoint_auth_signing_alg = match optional_text(
        request,
        "token_endpoint_auth_signing_alg",
    )? {
        None => None,
        Some(alg) => {
            let fits = match method {
                TokenEndpointAuthMethod::ClientSecretJwt => {
                    matches!(alg.as_str(), "HS256" | "HS384" | "HS512")
                }
                TokenEndpointAuthMethod::PrivateKeyJwt => matches!(
                    alg.as_str(),
                    "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384"
                ),
                _ => false,
            };
            if !fits {
                return Err(bad(format!(
                    "token_endpoint_auth_signing_alg {alg:?} does not fit token_endpoint_auth_method {method}"
                )));
            }
            Some(alg)
        }
    };

    Ok(ValidRegistration {
        redirect_uris,
        token_endpoint_auth_method: method,
        grant_types,
        client_name,
        client_uri,
        jwks,
        metadata: ClientMetadata {
            application_type,
            logo_uri,
            tos_uri,
            policy_uri,
            contacts,
            localized,
            response_types,
            id_token_signed_response_alg,
            userinfo_signed_response_alg,
            token_endpoint_auth_signing_alg,
        },
    })
}

/// The policy's rules for the URIs of one request, anchored on its `client_uri`.
struct UriRules<'p> {
    policy: &'p RegistrationPolicy,
    client_uri: Option<Url>,
}

impl<'p> UriRules<'p> {
    fn new(
        request: &Map<String, Value>,
        policy: &'p RegistrationPolicy,
    ) -> Result<Self, RegistrationError> {
        let client_uri = match optional_text(request, "client_uri")? {
            None if policy.allow_missing_client_uri => None,
            None => return Err(bad("client_uri is required")),
            Some(text) => {
                let url = parse_uri("client_uri", &text)?;
                if !is_secure(&url, policy) {
                    return Err(bad(format!(
                        "client_uri must be an https address on a public host and the standard port: {text}"
                    )));
                }
                Some(url)
            }
        };
        Ok(Self { policy, client_uri })
    }

    fn client_host(&self) -> Option<String> {
        self.client_uri
            .as_ref()
            .and_then(|url| url.host_str())
            .map(str::to_ascii_lowercase)
    }

    /// A logo, terms or policy page: secure, and on the client's host or below it.
    fn page_uri(
        &self,
        request: &Map<String, Value>,
        field: &str,
    ) -> Result<Option<String>, RegistrationError> {
        let Some(text) = optional_text(request, field)? else {
            return Ok(None);
        };
        self.check_page_uri(field, &text)?;
        Ok(Some(text))
    }

    fn check_page_uri(&self, field: &str, text: &str) -> Result<(), RegistrationError> {
        let url = parse_uri(field, text)?;
        if !is_secure(&url, self.policy) {
            return Err(bad(format!(
                "{field} must be an https address on a public host and the standard port"
            )));
        }
        if !self.on_client_host(&url) {
            return Err(bad(format!(
                "{field} is not on the client_uri host or below it"
            )));
        }
        Ok(())
    }

    fn on_client_host(&self, url: &Url) -> bool {
        if self.policy.allow_host_mismatch {
            return true;
        }
        match (self.client_host(), url.host_str()) {
            (Some(client), Some(host)) => is_same_or_subdomain(&client, &host.to_ascii_lowercase()),
            // No client_uri (allowed by the policy): nothing to match against.
            (None, _) => self.policy.allow_missing_client_uri,
            (Some(_), None) => false,
        }
    }

    fn redirect_uri(
        &self,
        text: &str,
        application_type: ApplicationType,
    ) -> Result<Url, RegistrationError> {
        let invalid = |why: &str| RegistrationError::InvalidRedirectUri(format!("{text}: {why}"));
        if text.len() > MAX_URI_LENGTH {
            return Err(invalid("too long"));
        }
        let url = Url::parse(text).map_err(|_| invalid("not an absolute URI"))?;
        // RFC 6749 §3.1.2: no fragment. No credentials either: they would end up in logs.
        if url.fragment().is_some() {
            return Err(invalid("a redirect URI has no fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("a redirect URI carries no credentials"));
        }
        if application_type == ApplicationType::Native && self.native_redirect(&url) {
            return Ok(url);
        }
        if is_secure(&url, self.policy) && self.on_client_host(&url) {
            return Ok(url);
        }
        Err(invalid(match application_type {
            ApplicationType::Web => {
                "web clients are redirected to https addresses on the client_uri host"
            }
            ApplicationType::Native => {
                "native clients are redirected to http on a loopback address, or to a private-use scheme that is the client_uri host reversed (RFC 8252 §7)"
            }
        }))
    }

    /// RFC 8252 §7.1 and §7.3: a private-use scheme naming the client's domain, or plain http on
    /// a loopback address (any port, chosen when the app starts).
    fn native_redirect(&self, url: &Url) -> bool {
        match url.scheme() {
            "http" => matches!(url.host(), Some(host) if is_loopback_host(&host)),
            "https" => false,
            scheme => {
                url.host().is_none()
                    && self
                        .client_host()
                        .is_some_and(|host| is_reverse_domain_of(scheme, &host))
            }
        }
    }
}

fn parse_uri(field: &str, text: &str) -> Result<Url, RegistrationError> {
    if text.len() > MAX_URI_LENGTH {
        return Err(bad(format!("{field} is over {MAX_URI_LENGTH} bytes")));
    }
    Url::parse(text).map_err(|_| bad(format!("{field} is not an absolute URI")))
}

/// https, on a public host name, on the standard port, without credentials — or anything, when the
/// policy allows insecure URIs.
fn is_secure(url: &Url, policy: &RegistrationPolicy) -> bool {
    if policy.allow_insecure_uris {
        return true;
    }
    url.scheme() == "https"
        && url.port().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && matches!(url.host(), Some(Host::Domain(name)) if !name.eq_ignore_ascii_case("localhost"))
}

fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// `tos.example.com` is below `example.com`; `badexample.com` is not.
fn is_same_or_subdomain(parent: &str, host: &str) -> bool {
    host == parent
        || host
            .strip_suffix(parent)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// `io.element.app` spells `app.element.io` reversed, so it is below `element.io`.
fn is_reverse_domain_of(scheme: &str, host: &str) -> bool {
    let reversed: Vec<&str> = host.split('.').rev().collect();
    let parts: Vec<&str> = scheme.split('.').collect();
    parts.len() >= reversed.len()
        && parts
            .iter()
            .zip(&reversed)
            .all(|(part, label)| part.eq_ignore_ascii_case(label))
}

/// A BCP 47 tag in its common shape: letters, digits and hyphens, starting with a letter.
fn is_language_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 35
        && tag.starts_with(|c: char| c.is_ascii_alphabetic())
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn signing_alg(
    request: &Map<String, Value>,
    field: &str,
    signing_algorithms: &[&str],
) -> Result<Option<String>, RegistrationError> {
    match optional_text(request, field)? {
        None => Ok(None),
        Some(alg) if signing_algorithms.contains(&alg.as_str()) => Ok(Some(alg)),
        Some(alg) => Err(bad(format!(
            "{field} {alg:?} is not one this server signs with ({})",
            signing_algorithms.join(", ")
        ))),
    }
}

fn as_text(field: &str, value: &Value) -> Result<String, RegistrationError> {
    let text = value
        .as_str()
        .ok_or_else(|| bad(format!("{field} must be a string")))?;
    let limit = if field.contains("uri") {
        MAX_URI_LENGTH
    } else {
        MAX_TEXT_LENGTH
    };
    if text.len() > limit {
        return Err(bad(format!("{field} is over {limit} bytes")));
    }
    if text.chars().any(char::is_control) {
        return Err(bad(format!("{field} contains control characters")));
    }
    Ok(text.to_owned())
}

fn optional_text(
    request: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, RegistrationError> {
    request
        .get(field)
        .map(|value| as_text(field, value))
        .transpose()
}

fn text_list(
    request: &Map<String, Value>,
    field: &str,
    limit: usize,
) -> Result<Vec<String>, RegistrationError> {
    let items = request
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("{field} must be an array of strings")))?;
    if items.len() > limit {
        return Err(bad(format!("{field} has more than {limit} entries")));
    }
    let mut texts: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let text = as_text(field, item)?;
        if !texts.contains(&text) {
            texts.push(text);
        }
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ALGS: &[&str] = &["RS256", "ES256"];

    fn register(request: Value) -> Result<ValidRegistration, RegistrationError> {
        register_with(request, RegistrationPolicy::default())
    }

    fn register_with(
        request: Value,
        policy: RegistrationPolicy,
    ) -> Result<ValidRegistration, RegistrationError> {
        validate(request.as_object().expect("an object"), &policy, ALGS)
    }

    fn element_x() -> Value {
        json!({
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
            "response_types": ["code"],
            "application_type": "native",
            "client_uri": "https://example.org/",
            "client_name": "Element X",
            "client_name#fr": "Élément X"
        })
    }

    fn is_redirect_error(result: Result<ValidRegistration, RegistrationError>) -> bool {
        matches!(result, Err(RegistrationError::InvalidRedirectUri(_)))
    }

    fn is_metadata_error(result: Result<ValidRegistration, RegistrationError>) -> bool {
        matches!(result, Err(RegistrationError::InvalidClientMetadata(_)))
    }

    #[test]
    fn matrix_rust_sdk_registration_is_accepted() {
        let client = register(element_x()).expect("accepted");
        assert_eq!(
            client.token_endpoint_auth_method,
            TokenEndpointAuthMethod::None
        );
        assert!(client.grant_types.contains(GrantType::DeviceCode));
        assert!(!client.needs_secret());
        assert_eq!(client.metadata.application_type, ApplicationType::Native);
        assert_eq!(client.metadata.localized["client_name#fr"], "Élément X");
        assert_eq!(client.digest(), register(element_x()).unwrap().digest());
        let mut other = element_x();
        other["client_name"] = json!("Element X Nightly");
        assert_ne!(client.digest(), register(other).unwrap().digest());
    }

    #[test]
    fn native_redirects() {
        let with = |uri: &str, client_uri: &str| {
            let mut request = element_x();
            request["redirect_uris"] = json!([uri]);
            request["client_uri"] = json!(client_uri);
            register(request)
        };
        // Element X Android and loopback on any port.
        assert!(with("io.element:/callback", "https://element.io").is_ok());
        assert!(with("io.element.android:/callback", "https://element.io").is_ok());
        assert!(with("http://127.0.0.1:61234/callback", "https://element.io").is_ok());
        assert!(with("http://[::1]:8080/", "https://element.io").is_ok());
        assert!(with("http://localhost:9/cb", "https://element.io").is_ok());
        assert!(with("https://app.element.io/cb", "https://element.io").is_ok());
        // Another domain's scheme, an authority on a private-use scheme, http on a public host.
        for (uri, client_uri) in [
            ("io.evil:/callback", "https://element.io"),
            ("io:/callback", "https://element.io"),
            ("io.element://callback", "https://element.io"),
            ("http://element.io/callback", "https://element.io"),
            ("http://10.0.0.1/callback", "https://element.io"),
            ("https://evil.example/cb", "https://element.io"),
            ("http://127.0.0.1/cb#frag", "https://element.io"),
            ("http://user:pw@127.0.0.1/cb", "https://element.io"),
            ("javascript:alert(1)", "https://element.io"),
        ] {
            assert!(is_redirect_error(with(uri, client_uri)), "{uri}");
        }
    }

    #[test]
    fn web_redirects_stay_on_the_client_host() {
        let with = |uri: &str| {
            register(json!({
                "redirect_uris": [uri],
                "token_endpoint_auth_method": "none",
                "client_uri": "https://app.example.com/",
            }))
        };
        assert!(with("https://app.example.com/callback").is_ok());
        assert!(with("https://beta.app.example.com/callback?x=1").is_ok());
        for uri in [
            "https://example.com/callback",
            "https://badapp.example.com/callback",
            "https://app.example.com.evil.example/callback",
            "http://app.example.com/callback",
            "https://app.example.com:8443/callback",
            "http://127.0.0.1/callback",
            "io.example.app:/callback",
        ] {
            assert!(is_redirect_error(with(uri)), "{uri}");
        }
    }

    #[test]
    fn policy_switches_relax_the_rules() {
        let request = json!({
            "redirect_uris": ["http://localhost:3000/callback"],
            "token_endpoint_auth_method": "none",
            "client_uri": "http://localhost:3000/",
            "logo_uri": "https://cdn.example.net/logo.png",
        });
        assert!(is_metadata_error(register(request.clone())));
        let insecure = RegistrationPolicy {
            allow_insecure_uris: true,
            ..RegistrationPolicy::default()
        };
        assert!(
            is_metadata_error(register_with(request.clone(), insecure)),
            "host mismatch"
        );
        let relaxed = RegistrationPolicy {
            allow_host_mismatch: true,
            ..insecure
        };
        assert!(register_with(request, relaxed).is_ok());

        let no_client_uri = json!({
            "redirect_uris": ["https://app.example.com/cb"],
            "token_endpoint_auth_method": "none",
        });
        assert!(is_metadata_error(register(no_client_uri.clone())));
        let allowed = RegistrationPolicy {
            allow_missing_client_uri: true,
            ..RegistrationPolicy::default()
        };
        assert!(register_with(no_client_uri, allowed).is_ok());

        let strict = RegistrationPolicy {
            allow_missing_contacts: false,
            ..RegistrationPolicy::default()
        };
        assert!(is_metadata_error(register_with(element_x(), strict)));
        let mut with_contacts = element_x();
        with_contacts["contacts"] = json!(["admin@example.org"]);
        assert!(register_with(with_contacts, strict).is_ok());
    }

    #[test]
    fn pages_are_secure_and_on_the_client_host() {
        let with = |field: &str, uri: &str| {
            let mut request = element_x();
            request[field] = json!(uri);
            register(request)
        };
        assert!(with("logo_uri", "https://example.org/logo.png").is_ok());
        assert!(with("tos_uri", "https://legal.example.org/tos").is_ok());
        assert!(with("policy_uri#de", "https://example.org/datenschutz").is_ok());
        assert!(is_metadata_error(with(
            "logo_uri",
            "http://example.org/logo.png"
        )));
        assert!(is_metadata_error(with(
            "tos_uri",
            "https://example.com/tos"
        )));
        assert!(is_metadata_error(with(
            "logo_uri#fr",
            "https://evil.example/logo.png"
        )));
        assert!(is_metadata_error(with("client_uri", "https://localhost/")));
        assert!(is_metadata_error(with(
            "client_uri",
            "https://example.org:8443/"
        )));
        assert!(is_metadata_error(with("client_uri", "https://192.0.2.1/")));
        assert!(is_metadata_error(with("client_name#fr\u{0}", "x")));
        assert!(is_metadata_error(with("redirect_uris#fr", "x")));
    }

    #[test]
    fn grants_methods_and_keys() {
        let mut request = element_x();
        request["grant_types"] = json!(["client_credentials"]);
        request["response_types"] = json!([]);
        assert!(
            is_metadata_error(register(request.clone())),
            "public client_credentials"
        );
        request["token_endpoint_auth_method"] = json!("client_secret_basic");
        let confidential = register(request).expect("accepted");
        assert!(confidential.needs_secret());
        assert!(confidential.redirect_uris.len() == 1);

        let mut implicit = element_x();
        implicit["grant_types"] = json!(["implicit"]);
        assert!(is_metadata_error(register(implicit)));
        let mut token = element_x();
        token["response_types"] = json!(["token"]);
        assert!(is_metadata_error(register(token)));
        let mut no_redirect = element_x();
        no_redirect["redirect_uris"] = json!([]);
        assert!(is_redirect_error(register(no_redirect)));
        let mut unknown_method = element_x();
        unknown_method["token_endpoint_auth_method"] = json!("tls_client_auth");
        assert!(is_metadata_error(register(unknown_method)));

        let mut defaults = element_x();
        defaults
            .as_object_mut()
            .unwrap()
            .remove("token_endpoint_auth_method");
        assert_eq!(
            register(defaults).unwrap().token_endpoint_auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic,
            "RFC 7591 §2 default"
        );

        let mut jwt = element_x();
        jwt["token_endpoint_auth_method"] = json!("private_key_jwt");
        assert!(is_metadata_error(register(jwt.clone())), "needs jwks");
        jwt["jwks_uri"] = json!("https://example.org/jwks.json");
        assert!(is_metadata_error(register(jwt.clone())), "no jwks_uri");
        jwt.as_object_mut().unwrap().remove("jwks_uri");
        jwt["jwks"] = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]});
        jwt["token_endpoint_auth_signing_alg"] = json!("ES256");
        assert!(register(jwt.clone()).is_ok());
        jwt["token_endpoint_auth_signing_alg"] = json!("HS256");
        assert!(
            is_metadata_error(register(jwt.clone())),
            "HS256 with private_key_jwt"
        );
        jwt["token_endpoint_auth_signing_alg"] = json!("none");
        assert!(is_metadata_error(register(jwt)));

        let mut alg = element_x();
        alg["id_token_signed_response_alg"] = json!("ES256");
        assert!(register(alg.clone()).is_ok());
        alg["id_token_signed_response_alg"] = json!("none");
        assert!(is_metadata_error(register(alg)));
    }

    #[test]
    fn hostile_shapes_are_refused() {
        let mut request = element_x();
        request["redirect_uris"] = json!("http://127.0.0.1/cb");
        assert!(is_metadata_error(register(request)));
        let mut request = element_x();
        request["client_name"] = json!(7);
        assert!(is_metadata_error(register(request)));
        let mut request = element_x();
        request["client_name"] = json!("x".repeat(MAX_TEXT_LENGTH + 1));
        assert!(is_metadata_error(register(request)));
        let mut request = element_x();
        request["redirect_uris"] = json!(
            (0..=MAX_REDIRECT_URIS)
                .map(|port| format!("http://127.0.0.1:{port}/cb"))
                .collect::<Vec<_>>()
        );
        assert!(is_metadata_error(register(request)));
        let mut request = element_x();
        request["redirect_uris"] =
            json!([format!("http://127.0.0.1/{}", "a".repeat(MAX_URI_LENGTH))]);
        assert!(register(request).is_err());
        let mut request = element_x();
        request["client_name"] = json!("line\nbreak");
        assert!(is_metadata_error(register(request)));
        let mut request = element_x();
        for n in 0..=MAX_LOCALIZED_VALUES {
            request[format!("client_name#x{n}")] = json!("name");
        }
        assert!(is_metadata_error(register(request)));
    }

    #[test]
    fn reverse_domains_and_subdomains() {
        assert!(is_reverse_domain_of("io.element", "element.io"));
        assert!(is_reverse_domain_of("io.element.app", "element.io"));
        assert!(!is_reverse_domain_of("io", "element.io"));
        assert!(!is_reverse_domain_of("io.elementx", "element.io"));
        assert!(is_same_or_subdomain("example.com", "example.com"));
        assert!(is_same_or_subdomain("example.com", "a.b.example.com"));
        assert!(!is_same_or_subdomain("example.com", "badexample.com"));
        assert!(!is_same_or_subdomain("example.com", "example.com.evil"));
    }
}

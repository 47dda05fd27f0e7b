//! `GET|POST /authorize`: the authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2). The
//! client and its redirect URI are checked first; until both are, a refusal is a page for the
//! person, never a redirect (RFC 6749 §4.1.2.1). After that every refusal goes back to the
//! client as an authorization response. A valid request is recorded as a pending grant, bound
//! to this browser, and the browser continues to sign-in and consent (`pages::consent`).

use std::collections::BTreeMap;

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, cookie::CookieJar},
};
use url::{Host, Url};

use super::{AuthorizationResponse, OAuthError, ResponseMode};
use crate::{
    domain::{
        oauth2_clients::OAuth2Client,
        oauth2_grants::{AuthorizationGrant, Pkce, PkceMethod},
        scopes::{DEVICE_PREFIX, DEVICE_PREFIX_UNSTABLE, Scope, is_valid_oauth_device_id},
    },
    http::{
        AppState,
        pages::{consent, error_page},
    },
    services::oauth2_sessions::{self, AuthorizationRequest},
};

/// The longest value any parameter may have, in bytes. Real requests stay far below (a state
/// or nonce is tens of characters, a Matrix scope with a device about 150); anything longer is
/// refused before it is stored or echoed.
pub const MAX_PARAMETER_LEN: usize = 2048;
/// More parameters than a request has any use for.
const MAX_PARAMETERS: usize = 32;

/// The OIDC `prompt` values understood (Core §3.1.2.1, and `create` from Initiating User
/// Registration via OpenID Connect).
const PROMPTS: [&str; 5] = ["none", "login", "consent", "select_account", "create"];

#[handler]
pub async fn get(req: &Request, Data(state): Data<&AppState>, jar: &CookieJar) -> Response {
    authorize(state, jar, req.uri().query().unwrap_or_default()).await
}

/// OIDC Core §3.1.2.1: the same request as a form POST.
#[handler]
pub async fn post(
    req: &Request,
    Data(state): Data<&AppState>,
    jar: &CookieJar,
    body: Body,
) -> Response {
    let is_form = req
        .content_type()
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim() == "application/x-www-form-urlencoded");
    let body = match body.into_bytes().await {
        Ok(body) if is_form => body,
        _ => return malformed(state, "The request was not a form."),
    };
    match std::str::from_utf8(&body) {
        Ok(text) => authorize(state, jar, text).await,
        Err(_) => malformed(state, "The request was not readable text."),
    }
}

async fn authorize(state: &AppState, jar: &CookieJar, raw: &str) -> Response {
    let params = match Params::parse(raw) {
        Ok(params) => params,
        Err(why) => return malformed(state, why),
    };
    let client = match find_client(state, params.get("client_id")).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let (redirect_uri, redirect_text) = match pick_redirect_uri(&client, params.get("redirect_uri"))
    {
        Ok(found) => found,
        Err(why) => {
            return error_page(
                state,
                StatusCode::BAD_REQUEST,
                "This application's sign-in link is wrong",
                why,
            );
        }
    };
    // From here on the client hears of every refusal, in the mode it asked for (or the
    // response type's default when the mode itself is the problem).
    let response_type = ResponseType::parse(params.get("response_type"));
    let mode = params
        .get("response_mode")
        .and_then(ResponseMode::parse)
        .filter(|mode| !(*mode == ResponseMode::Query && response_type.is_hybrid()))
        .unwrap_or_else(|| response_type.default_mode());
    let reply = match AuthorizationResponse::new(
        redirect_uri,
        mode,
        params.get("state"),
        state.config.http.issuer().as_str(),
    ) {
        Ok(reply) => reply,
        Err(error) => {
            return error_page(
                state,
                StatusCode::BAD_REQUEST,
                "This application's sign-in link is wrong",
                &error.to_string(),
            );
        }
    };
    let request = match read_request(&client, &params, response_type, redirect_text) {
        Ok(request) => request,
        Err(error) => return reply.error(&error).into_response(),
    };
    let grant = match oauth2_sessions::start_authorization(
        &state.store,
        state.clock.as_ref(),
        &client,
        request,
    )
    .await
    {
        Ok(grant) => grant,
        Err(error) => return reply.error(&OAuthError::from(error)).into_response(),
    };
    tracing::info!(grant.id = %grant.id, client.id = %client.id, "authorization requested");
    consent::remember_grant(state, jar, grant.id);
    consent::continue_from_authorize(state, jar, &grant).await
}

/// A request whose parameters cannot be read with certainty: nothing is sent back to the
/// client, as neither its `redirect_uri` nor its `state` can be trusted.
fn malformed(state: &AppState, why: &str) -> Response {
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        "This sign-in request cannot be read",
        &format!("{why} Go back to the application and try again."),
    )
}

/// An authorization request's parameters, each at most once (RFC 6749 §3.1), decoded as UTF-8
/// text without control characters, none longer than [`MAX_PARAMETER_LEN`]. A parameter sent
/// without a value counts as omitted (RFC 6749 §3.1).
#[derive(Debug, Default)]
struct Params(BTreeMap<String, String>);

impl Params {
    fn parse(raw: &str) -> Result<Self, &'static str> {
        let mut params = BTreeMap::new();
        for (count, (name, value)) in url::form_urlencoded::parse(raw.as_bytes()).enumerate() {
            if count >= MAX_PARAMETERS {
                return Err("The request has too many parameters.");
            }
            // Bytes that are not UTF-8 were replaced with U+FFFD while decoding; no OAuth
            // parameter has a use for that character either.
            let text_ok = |text: &str| !text.chars().any(|c| c.is_control() || c == '\u{fffd}');
            if !text_ok(&name) || !text_ok(&value) {
                return Err("The request holds characters that are not text.");
            }
            if value.len() > MAX_PARAMETER_LEN || name.len() > MAX_PARAMETER_LEN {
                return Err("A parameter of the request is too long.");
            }
            if params
                .insert(name.into_owned(), value.into_owned())
                .is_some()
            {
                return Err("A parameter of the request is repeated.");
            }
        }
        params.retain(|_, value: &mut String| !value.is_empty());
        Ok(Self(params))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

async fn find_client(state: &AppState, client_id: Option<&str>) -> Result<OAuth2Client, Response> {
    let unknown = || {
        error_page(
            state,
            StatusCode::BAD_REQUEST,
            "Unknown application",
            "The application that sent you here is not known to this server. Go back and try \
             again, or tell the application's makers.",
        )
    };
    let Some(id) = client_id.and_then(|id| id.parse::<ulid::Ulid>().ok()) else {
        return Err(unknown());
    };
    let found = async { state.store.reader().await?.oauth2_clients().find(id).await };
    match found.await {
        Ok(Some(client)) => Ok(client),
        Ok(None) => Err(unknown()),
        Err(error) => {
            tracing::error!(%error, "could not read the OAuth 2.0 client");
            Err(error_page(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            ))
        }
    }
}

/// The redirect URI the response goes to, and its text as the grant keeps it (the token
/// request must send it again, identical: RFC 6749 §4.1.3). One the client registered,
/// matched exactly; for loopback ones any port (RFC 8252 §7.3). Without `redirect_uri`, the
/// client's only one.
fn pick_redirect_uri(
    client: &OAuth2Client,
    given: Option<&str>,
) -> Result<(Url, String), &'static str> {
    let Some(given) = given else {
        return match client.redirect_uris.as_slice() {
            [only] => Ok((only.clone(), only.to_string())),
            _ => Err("The application did not say where to return to (redirect_uri)."),
        };
    };
    let Ok(url) = Url::parse(given) else {
        return Err("The address to return to (redirect_uri) is not a URL.");
    };
    if client
        .redirect_uris
        .iter()
        .any(|registered| redirect_matches(registered, &url))
    {
        Ok((url, given.to_owned()))
    } else {
        Err("The address to return to (redirect_uri) is not one this application registered.")
    }
}

fn redirect_matches(registered: &Url, given: &Url) -> bool {
    if registered == given {
        return true;
    }
    let loopback = match registered.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name == "localhost",
        None => false,
    };
    if registered.scheme() != "http" || !loopback {
        return false;
    }
    // RFC 8252 §7.3: a native app listens on whichever loopback port it could get.
    let (mut registered, mut given) = (registered.clone(), given.clone());
    registered.set_port(None).is_ok() && given.set_port(None).is_ok() && registered == given
}

/// `response_type` (RFC 6749 §3.1.1; its values are a set, in any order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseType {
    Code,
    /// `code id_token`: OIDC Core §3.3, the hybrid flow.
    CodeIdToken,
    Missing,
    Unsupported,
}

impl ResponseType {
    fn parse(value: Option<&str>) -> Self {
        let Some(value) = value else {
            return Self::Missing;
        };
        let mut parts: Vec<&str> = value.split(' ').filter(|p| !p.is_empty()).collect();
        parts.sort_unstable();
        match parts.as_slice() {
            ["code"] => Self::Code,
            ["code", "id_token"] => Self::CodeIdToken,
            _ => Self::Unsupported,
        }
    }

    fn is_hybrid(self) -> bool {
        self == Self::CodeIdToken
    }

    /// OAuth 2.0 Multiple Response Type Encoding Practices §5: `fragment` for anything that
    /// returns a token from the authorization endpoint, `query` for the code alone.
    fn default_mode(self) -> ResponseMode {
        if self.is_hybrid() {
            ResponseMode::Fragment
        } else {
            ResponseMode::Query
        }
    }

    /// The name as a client registers it (RFC 7591 `response_types`).
    fn registered_name(self) -> &'static str {
        if self.is_hybrid() {
            "code id_token"
        } else {
            "code"
        }
    }
}

/// Everything but the client and the redirect URI, checked; `redirect_uri` as it will be kept.
fn read_request(
    client: &OAuth2Client,
    params: &Params,
    response_type: ResponseType,
    redirect_uri: String,
) -> Result<AuthorizationRequest, OAuthError> {
    // OIDC Core §6: request objects are not supported (discovery says so).
    if params.get("request").is_some() {
        return Err(OAuthError::request_not_supported(
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(OAuthError::request_uri_not_supported(
            "request_uri is not supported",
        ));
    }
    if params.get("registration").is_some() {
        return Err(OAuthError::registration_not_supported(
            "use dynamic client registration instead of the registration parameter",
        ));
    }
    match response_type {
        ResponseType::Missing => {
            return Err(OAuthError::invalid_request("response_type is required"));
        }
        ResponseType::Unsupported => {
            return Err(OAuthError::unsupported_response_type(
                "response_type must be code or code id_token",
            ));
        }
        ResponseType::Code | ResponseType::CodeIdToken => {}
    }
    let registered = &client.metadata.response_types;
    if !registered.is_empty()
        && !registered
            .iter()
            .any(|name| name == response_type.registered_name())
    {
        return Err(OAuthError::unauthorized_client(
            "this client did not register this response_type",
        ));
    }
    let response_mode = match params.get("response_mode") {
        None => response_type.default_mode(),
        Some(value) => match ResponseMode::parse(value) {
            // OAuth 2.0 Multiple Response Type Encoding Practices §5: never a token in the
            // query.
            Some(ResponseMode::Query) if response_type.is_hybrid() => {
                return Err(OAuthError::invalid_request(
                    "response_mode query is not allowed with code id_token",
                ));
            }
            Some(mode) => mode,
            None => {
                return Err(OAuthError::invalid_request(
                    "response_mode must be query, fragment or form_post",
                ));
            }
        },
    };
    let scope = read_scope(params.get("scope"))?;
    let nonce = params.get("nonce").map(str::to_owned);
    if response_type.is_hybrid() {
        if !scope.contains("openid") {
            return Err(OAuthError::invalid_request(
                "code id_token needs the openid scope",
            ));
        }
        // OIDC Core §3.3.2.11.
        if nonce.is_none() {
            return Err(OAuthError::invalid_request("code id_token needs a nonce"));
        }
    }
    let pkce = read_pkce(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    )?;
    let prompt = read_prompt(params.get("prompt"))?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(value) => Some(
            value
                .parse::<u32>()
                .map_err(|_| OAuthError::invalid_request("max_age must be a number of seconds"))?
                .into(),
        ),
    };
    Ok(AuthorizationRequest {
        redirect_uri,
        scope,
        state: params.get("state").map(str::to_owned),
        nonce,
        response_mode,
        response_type_id_token: response_type.is_hybrid(),
        pkce,
        login_hint: params.get("login_hint").map(str::to_owned),
        prompt,
        max_age,
    })
}

fn read_scope(value: Option<&str>) -> Result<Scope, OAuthError> {
    let scope = Scope::parse(value.unwrap_or_default())
        .map_err(|error| OAuthError::invalid_scope(error.to_string()))?;
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope("scope is required"));
    }
    for token in scope.iter() {
        let device = token
            .strip_prefix(DEVICE_PREFIX)
            .or_else(|| token.strip_prefix(DEVICE_PREFIX_UNSTABLE));
        if let Some(device) = device
            && !is_valid_oauth_device_id(device)
        {
            return Err(OAuthError::invalid_scope(
                "a device ID is at least 10 characters of letters, digits and ._~!$&'()*+,;=:@/-",
            ));
        }
    }
    Ok(scope)
}

/// RFC 7636 §4.3: `code_challenge_method` defaults to `plain`.
fn read_pkce(challenge: Option<&str>, method: Option<&str>) -> Result<Option<Pkce>, OAuthError> {
    let Some(challenge) = challenge else {
        if method.is_some() {
            return Err(OAuthError::invalid_request(
                "code_challenge_method without code_challenge",
            ));
        }
        return Ok(None);
    };
    let method = match method {
        None => PkceMethod::Plain,
        Some(method) => PkceMethod::parse(method).ok_or_else(|| {
            OAuthError::invalid_request("code_challenge_method must be S256 or plain")
        })?,
    };
    if !Pkce::is_valid_challenge(method, challenge) {
        return Err(OAuthError::invalid_request(
            "code_challenge does not fit RFC 7636 for its method",
        ));
    }
    Ok(Some(Pkce {
        method,
        challenge: challenge.to_owned(),
    }))
}

/// The `prompt` values, space-separated, each known, `none` alone (OIDC Core §3.1.2.1).
fn read_prompt(value: Option<&str>) -> Result<Option<String>, OAuthError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let mut prompts: Vec<&str> = Vec::new();
    for prompt in value.split(' ').filter(|p| !p.is_empty()) {
        if !PROMPTS.contains(&prompt) {
            return Err(OAuthError::invalid_request(
                "prompt must be none, login, consent, select_account or create",
            ));
        }
        if !prompts.contains(&prompt) {
            prompts.push(prompt);
        }
    }
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Err(OAuthError::invalid_request(
            "prompt none cannot be combined with other values",
        ));
    }
    Ok((!prompts.is_empty()).then(|| prompts.join(" ")))
}

/// The authorization response to the client of `grant`, at the redirect URI and in the mode
/// the grant recorded; `None` if the recorded URI no longer parses (it was checked when the
/// grant was made).
pub(crate) fn response_for(
    state: &AppState,
    grant: &AuthorizationGrant,
) -> Option<AuthorizationResponse> {
    let redirect_uri = Url::parse(&grant.redirect_uri).ok()?;
    AuthorizationResponse::new(
        redirect_uri,
        grant.response_mode,
        grant.state.as_deref(),
        state.config.http.issuer().as_str(),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("test URL")
    }

    #[test]
    fn redirect_uris_match_exactly_but_loopback_ports() {
        let web = url("https://app.example.org/cb");
        assert!(redirect_matches(&web, &url("https://app.example.org/cb")));
        for other in [
            "https://app.example.org:8443/cb",
            "https://app.example.org/cb/more",
            "https://app.example.org/cb?x=1",
            "https://app.example.org/cb#x",
            "https://app.example.org@evil.example/cb",
            "https://evil.example/cb",
            "http://app.example.org/cb",
        ] {
            assert!(!redirect_matches(&web, &url(other)), "{other}");
        }
        for registered in [
            "http://127.0.0.1/callback",
            "http://[::1]/callback",
            "http://localhost/callback",
        ] {
            let registered = url(registered);
            let mut other_port = registered.clone();
            other_port.set_port(Some(49152)).expect("port");
            assert!(redirect_matches(&registered, &other_port), "{other_port}");
            let mut other_path = other_port.clone();
            other_path.set_path("/elsewhere");
            assert!(!redirect_matches(&registered, &other_path), "{other_path}");
        }
        assert!(!redirect_matches(
            &url("https://127.0.0.1/callback"),
            &url("https://127.0.0.1:8443/callback")
        ));
    }

    #[test]
    fn parameters_are_read_once_as_text() {
        let params = Params::parse("a=1&b=&c=x%20y").expect("valid");
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None, "empty counts as omitted");
        assert_eq!(params.get("c"), Some("x y"));
        assert!(Params::parse("a=1&a=2").is_err(), "repeated");
        assert!(Params::parse("state=%00").is_err(), "NUL");
        assert!(Params::parse("state=%FF%FE").is_err(), "not UTF-8");
        assert!(Params::parse("state=a%0Ab").is_err(), "newline");
        assert!(Params::parse(&format!("state={}", "a".repeat(MAX_PARAMETER_LEN))).is_ok());
        assert!(Params::parse(&format!("state={}", "a".repeat(MAX_PARAMETER_LEN + 1))).is_err());
        let many: Vec<String> = (0..=MAX_PARAMETERS).map(|i| format!("p{i}=1")).collect();
        assert!(Params::parse(&many.join("&")).is_err());
    }

    #[test]
    fn response_types_are_sets() {
        assert_eq!(ResponseType::parse(Some("code")), ResponseType::Code);
        assert_eq!(
            ResponseType::parse(Some("id_token code")),
            ResponseType::CodeIdToken
        );
        assert_eq!(
            ResponseType::parse(Some("token")),
            ResponseType::Unsupported
        );
        assert_eq!(
            ResponseType::parse(Some("id_token")),
            ResponseType::Unsupported
        );
        assert_eq!(ResponseType::parse(None), ResponseType::Missing);
        assert_eq!(
            ResponseType::CodeIdToken.default_mode(),
            ResponseMode::Fragment
        );
        assert_eq!(ResponseType::Code.default_mode(), ResponseMode::Query);
    }

    #[test]
    fn prompts_pkce_and_scopes() {
        assert_eq!(
            read_prompt(Some("login  consent login")),
            Ok(Some("login consent".into()))
        );
        assert!(read_prompt(Some("none login")).is_err());
        assert!(read_prompt(Some("bogus")).is_err());
        assert_eq!(read_prompt(Some("none")), Ok(Some("none".into())));

        let plain = read_pkce(Some(&"a".repeat(43)), None).expect("plain by default");
        assert_eq!(plain.map(|p| p.method), Some(PkceMethod::Plain));
        assert!(read_pkce(None, Some("S256")).is_err());
        assert!(read_pkce(Some("short"), Some("S256")).is_err());
        assert!(read_pkce(Some(&"a".repeat(43)), Some("s256")).is_err());

        assert!(read_scope(None).is_err());
        assert!(read_scope(Some("urn:matrix:client:device:short")).is_err());
        let qr = "urn:matrix:org.matrix.msc2967.client:api:* \
                  urn:matrix:org.matrix.msc2967.client:device:hB3v+Zy0yQ/LW9wC8nF0rV7c2mY4k1s6qP5dXo+gT/8";
        assert!(read_scope(Some(qr)).is_ok());
        assert_eq!(
            read_scope(Some("a\"b")).map_err(|e| e.code),
            Err(super::super::OAuthErrorCode::InvalidScope)
        );
    }
}

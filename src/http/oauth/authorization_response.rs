//! Authorization responses: sending `/authorize`'s answer (an error, or later the code) back to
//! the client's validated redirect URI, in the response mode it asked for: the query (RFC 6749
//! §4.1.2), the fragment (OAuth 2.0 Multiple Response Type Encoding Practices §2.1) or an
//! auto-submitted form (OAuth 2.0 Form Post Response Mode). Every response carries `iss`
//! (RFC 9207) and echoes `state` unchanged.

use std::sync::LazyLock;

use base64::Engine;
use poem::{IntoResponse, Response, http::StatusCode, http::header};
use sha2::{Digest, Sha256};
use url::Url;

use super::OAuthError;
pub use crate::domain::oauth2_grants::ResponseMode;

/// Why a redirect URI cannot receive an authorization response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// RFC 6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component."
    #[error("a redirect URI must not have a fragment")]
    Fragment,
    /// A scheme that runs code instead of reaching a client.
    #[error("redirect URI scheme {0:?} is not allowed")]
    Scheme(String),
}

/// Schemes that never name a client endpoint, whatever a registration said.
const REFUSED_SCHEMES: [&str; 4] = ["javascript", "data", "vbscript", "file"];

/// An authorization response on its way to the client: a redirect URI that was validated
/// against the client's registration, a mode, and the parameters in the order given, `state`
/// and `iss` last.
#[derive(Debug, Clone)]
pub struct AuthorizationResponse {
    redirect_uri: Url,
    mode: ResponseMode,
    params: Vec<(String, String)>,
    state: Option<String>,
    issuer: String,
}

impl AuthorizationResponse {
    /// A response to `redirect_uri`, which the caller has matched against the client's
    /// registered URIs. `issuer` is this server's (RFC 9207 `iss`).
    pub fn new(
        redirect_uri: Url,
        mode: ResponseMode,
        state: Option<&str>,
        issuer: &str,
    ) -> Result<Self, RedirectUriError> {
        if redirect_uri.fragment().is_some() {
            return Err(RedirectUriError::Fragment);
        }
        if REFUSED_SCHEMES.contains(&redirect_uri.scheme()) {
            return Err(RedirectUriError::Scheme(redirect_uri.scheme().to_owned()));
        }
        Ok(Self {
            redirect_uri,
            mode,
            params: Vec::new(),
            state: state.map(str::to_owned),
            issuer: issuer.to_owned(),
        })
    }

    /// Add a parameter (`code`, `id_token`, …). `state` and `iss` are the builder's own and
    /// are not taken from here.
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        if name != "state" && name != "iss" {
            self.params.push((name, value.into()));
        }
        self
    }

    /// Add these parameters, in order.
    #[must_use]
    pub fn params<N: Into<String>, V: Into<String>>(
        self,
        params: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        params
            .into_iter()
            .fold(self, |response, (name, value)| response.param(name, value))
    }

    /// The error response of RFC 6749 §4.1.2.1: `error`, `error_description`, `error_uri`.
    #[must_use]
    pub fn error(self, error: &OAuthError) -> Self {
        self.params(error.response_parameters())
    }

    /// Every parameter as sent, in order: the added ones, then `state` (if any), then `iss`.
    pub fn parameters(&self) -> Vec<(&str, &str)> {
        let mut all: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        if let Some(state) = &self.state {
            all.push(("state", state));
        }
        all.push(("iss", &self.issuer));
        all
    }

    /// Where a query or fragment response redirects the browser (a form-post response posts
    /// to the redirect URI as it is).
    pub fn redirect_location(&self) -> Url {
        let mut location = self.redirect_uri.clone();
        match self.mode {
            ResponseMode::FormPost => {}
            // RFC 6749 §3.1.2: the URI's own query is kept; ours is appended to it.
            ResponseMode::Query => {
                location.query_pairs_mut().extend_pairs(self.parameters());
            }
            ResponseMode::Fragment => {
                let fragment = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(self.parameters())
                    .finish();
                location.set_fragment(Some(&fragment));
            }
        }
        location
    }

    /// The form-post page: fields HTML-escaped, submitted by the one script the page's CSP
    /// allows (by hash), or by hand without JavaScript.
    pub fn form_post_page(&self) -> String {
        let mut fields = String::new();
        for (name, value) in self.parameters() {
            fields.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                html_escape(name),
                html_escape(value)
            ));
        }
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"referrer\" content=\"no-referrer\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>Returning to the application</title>\n</head>\n<body>\n\
             <form method=\"post\" action=\"{action}\">\n{fields}\
             <noscript><p>JavaScript is off: continue to return to the application.</p>\
             <button type=\"submit\">Continue</button></noscript>\n</form>\n\
             <script>{FORM_POST_SCRIPT}</script>\n</body>\n</html>\n",
            action = html_escape(self.redirect_uri.as_str()),
        )
    }
}

/// The form-post page's only script.
const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// The page's CSP: nothing loads, only [`FORM_POST_SCRIPT`] runs, no framing, no `<base>`.
static FORM_POST_CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD
        .encode(Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; base-uri 'none'; frame-ancestors 'none'"
    )
});

impl IntoResponse for AuthorizationResponse {
    fn into_response(self) -> Response {
        let response = match self.mode {
            ResponseMode::Query | ResponseMode::Fragment => Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, self.redirect_location().as_str())
                .body(()),
            ResponseMode::FormPost => Response::builder()
                .status(StatusCode::OK)
                .content_type("text/html; charset=utf-8")
                .header(header::CONTENT_SECURITY_POLICY, FORM_POST_CSP.as_str())
                .header(header::X_FRAME_OPTIONS, "DENY")
                .body(self.form_post_page()),
        };
        // It carries a code or an error about the user's session: never cached.
        response
            .with_header(header::CACHE_CONTROL, "no-store")
            .with_header(header::PRAGMA, "no-cache")
            .with_header(header::REFERRER_POLICY, "no-referrer")
            .into_response()
    }
}

/// Escape text for an HTML attribute value or element content.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::oauth::error::OAuthErrorCode;

    const ISSUER: &str = "https://auth.example.org/";

    fn url(text: &str) -> Url {
        Url::parse(text).expect("test URL")
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(text.as_bytes())
            .into_owned()
            .collect()
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn response_modes_parse() {
        for mode in ResponseMode::ALL {
            assert_eq!(ResponseMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(ResponseMode::parse("web_message"), None);
        assert_eq!(ResponseMode::parse("Query"), None);
    }

    #[test]
    fn query_merges_with_the_registered_query_and_encodes() {
        let state = "a b&c=d+é/?#";
        let response = AuthorizationResponse::new(
            url("https://app.example.org/cb?tenant=x%20y&tenant=z"),
            ResponseMode::Query,
            Some(state),
            ISSUER,
        )
        .expect("valid redirect URI")
        .param("code", "c0de/+=");
        let location = response.redirect_location();
        assert_eq!(location.fragment(), None);
        assert!(
            location
                .as_str()
                .starts_with("https://app.example.org/cb?tenant=x%20y&tenant=z&code="),
            "the registered query is kept byte for byte: {location}"
        );
        assert_eq!(
            pairs(location.query().expect("query")),
            owned(&[
                ("tenant", "x y"),
                ("tenant", "z"),
                ("code", "c0de/+="),
                ("state", state),
                ("iss", ISSUER),
            ]),
            "state comes back exactly as sent"
        );
        assert!(!location.as_str().contains('#') && !location.as_str().contains(' '));
    }

    #[test]
    fn redirect_uris_with_fragments_or_script_schemes_are_refused() {
        for uri in [
            "https://app.example.org/cb#x",
            "https://app.example.org/cb#",
        ] {
            assert_eq!(
                AuthorizationResponse::new(url(uri), ResponseMode::Query, None, ISSUER)
                    .map(|_| ())
                    .expect_err(uri),
                RedirectUriError::Fragment
            );
        }
        for uri in [
            "javascript:alert(1)",
            "data:text/html,x",
            "JavaScript:alert(1)",
        ] {
            assert!(matches!(
                AuthorizationResponse::new(url(uri), ResponseMode::FormPost, None, ISSUER),
                Err(RedirectUriError::Scheme(_))
            ));
        }
        // Private-use schemes of native clients (RFC 8252 §7.1) are fine.
        assert!(
            AuthorizationResponse::new(
                url("io.element.app:/callback"),
                ResponseMode::Query,
                None,
                ISSUER
            )
            .is_ok()
        );
    }

    #[test]
    fn fragment_mode_puts_everything_in_the_fragment() {
        let error = OAuthError::access_denied("the user said no");
        let response = AuthorizationResponse::new(
            url("https://app.example.org/cb?keep=1"),
            ResponseMode::Fragment,
            Some("xyz"),
            ISSUER,
        )
        .expect("valid")
        .error(&error);
        let location = response.redirect_location();
        assert_eq!(location.query(), Some("keep=1"), "the query is untouched");
        assert_eq!(
            pairs(location.fragment().expect("fragment")),
            owned(&[
                ("error", "access_denied"),
                ("error_description", "the user said no"),
                ("state", "xyz"),
                ("iss", ISSUER),
            ])
        );
    }

    #[tokio::test]
    async fn redirects_are_303_and_not_cached() {
        let response = AuthorizationResponse::new(
            url("https://app.example.org/cb"),
            ResponseMode::Query,
            None,
            ISSUER,
        )
        .expect("valid")
        .error(&OAuthError::new(OAuthErrorCode::LoginRequired))
        .into_response();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = response.headers()[header::LOCATION]
            .to_str()
            .expect("ASCII");
        let location = url(location);
        assert_eq!(
            pairs(location.query().expect("query")),
            owned(&[("error", "login_required"), ("iss", ISSUER)]),
            "no state sent, none returned; iss always"
        );
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[header::PRAGMA], "no-cache");
    }

    #[test]
    fn state_and_iss_cannot_be_overridden_by_params() {
        let response = AuthorizationResponse::new(
            url("https://app.example.org/cb"),
            ResponseMode::Query,
            Some("mine"),
            ISSUER,
        )
        .expect("valid")
        .params([
            ("code", "abc"),
            ("state", "forged"),
            ("iss", "https://evil.example/"),
        ]);
        assert_eq!(
            response.parameters(),
            [("code", "abc"), ("state", "mine"), ("iss", ISSUER)]
        );
    }

    #[tokio::test]
    async fn form_post_escapes_hostile_values() {
        let hostile = "\"><script>alert(1)</script><x a='";
        let response = AuthorizationResponse::new(
            url("https://app.example.org/cb?x=\"><script>"),
            ResponseMode::FormPost,
            Some(hostile),
            ISSUER,
        )
        .expect("valid")
        .error(&OAuthError::invalid_scope(hostile));
        let page = response.form_post_page();
        assert_eq!(
            page.matches("<script>").count(),
            1,
            "only the page's own script: {page}"
        );
        assert!(!page.contains(hostile));
        assert!(page.contains(
            "name=\"state\" value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;x a=&#x27;\""
        ));
        assert!(page.contains(&format!("name=\"iss\" value=\"{ISSUER}\"")));
        assert!(page.contains("action=\"https://app.example.org/cb?x=%22%3E%3Cscript%3E\""));
        assert!(page.contains("<noscript>"), "works without JavaScript");

        let mut http = response.into_response();
        assert_eq!(http.status(), StatusCode::OK);
        let headers = http.headers().clone();
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        let csp = headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ASCII");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        // The hash in the CSP is the one of the script on the page.
        let hash = base64::engine::general_purpose::STANDARD
            .encode(Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
        assert!(csp.contains(&format!("script-src 'sha256-{hash}'")));
        let body = http.take_body().into_string().await.expect("body");
        assert!(body.contains(&format!("<script>{FORM_POST_SCRIPT}</script>")));
    }

    #[tokio::test]
    async fn the_app_wide_headers_keep_the_form_post_policy() {
        use poem::{Endpoint, EndpointExt, endpoint::make_sync};
        let page = make_sync(|_| {
            AuthorizationResponse::new(
                Url::parse("https://app.example.org/cb").expect("URL"),
                ResponseMode::FormPost,
                Some("s"),
                ISSUER,
            )
            .expect("valid")
            .param("code", "abc")
        })
        .with(crate::http::security_headers::SecurityHeaders);
        let response = page.call(poem::Request::default()).await.expect("answer");
        let policies: Vec<_> = response
            .headers()
            .get_all(header::CONTENT_SECURITY_POLICY)
            .iter()
            .map(|v| v.to_str().expect("ASCII").to_owned())
            .collect();
        assert_eq!(policies.len(), 2, "{policies:?}");
        assert!(policies.contains(&FORM_POST_CSP.clone()), "{policies:?}");
        assert!(policies.contains(&"frame-ancestors 'none'".to_owned()));
    }
}

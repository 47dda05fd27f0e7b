//! `GET|POST /authorize` and the consent pages, driven as a browser drives them: the code flow
//! to the client's redirect in each response mode (then the code exchanged), remembered
//! consent, `prompt`, `max_age` and `login_hint`, and the attacks: unknown clients and
//! redirect URIs that are not the registered ones (no redirect, a page), missing PKCE, missing
//! or wrong CSRF, a consent link opened in another browser, a replayed answer, hostile input.
//! On both backends.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::Duration;
use gatehouse::{
    crypto::jwt::PublicKeySet,
    domain::{
        Clock,
        oauth2_clients::{
            ClientMetadata, GrantType, GrantTypes, OAuth2Client, TokenEndpointAuthMethod,
        },
        oauth2_grants::GrantState,
        users::User,
    },
    services::accounts::{self, Registration},
};
use serde_json::{Value, json};
use sha2::Digest;
use ulid::Ulid;

use crate::{
    browser::{Browser, Page},
    common::TestDb,
    harness::TestServer,
    on_both_backends,
};

const PASSWORD: &str = "a password for the consent tests";
const REDIRECT: &str = "https://client.example/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The device a QR login names: a base64 Curve25519 key, with `+` and `/`.
const QR_DEVICE: &str = "hB3v+Zy0yQ/LW9wC8nF0rV7c2mY4k1s6qP5dXo+gT/8";
const API: &str = "urn:matrix:org.matrix.msc2967.client:api:*";

struct Env {
    server: TestServer,
    /// Kept to the end: dropping it deletes a SQLite database.
    _db: TestDb,
}

async fn env(db: TestDb) -> Env {
    let server = TestServer::start(&db).await;
    Env { server, _db: db }
}

impl Env {
    fn browser(&self) -> Browser {
        Browser::new(&self.server.url)
    }

    fn issuer(&self) -> String {
        self.server.state.config.http.issuer().to_string()
    }

    async fn user(&self, name: &str, admin: bool) -> User {
        let s = &self.server;
        accounts::register_user(
            &s.store,
            &s.clock,
            &s.state.passwords,
            Registration {
                username: name.into(),
                password: Some(PASSWORD.into()),
                admin,
                ..Registration::default()
            },
        )
        .await
        .expect("register")
    }

    /// A public client (PKCE required) with these redirect URIs, as registration stores one.
    async fn client(
        &self,
        redirects: &[&str],
        tweak: impl FnOnce(&mut OAuth2Client),
    ) -> OAuth2Client {
        let clock = &self.server.clock;
        let mut client = OAuth2Client {
            id: gatehouse::domain::ids::new_id(clock),
            is_static: false,
            encrypted_client_secret: None,
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
            jwks: None,
            jwks_uri: None,
            redirect_uris: redirects.iter().map(|r| r.parse().expect("URL")).collect(),
            client_name: Some("Test client".into()),
            client_uri: Some("https://client.example/".into()),
            grant_types: GrantTypes::empty()
                .with(GrantType::AuthorizationCode, true)
                .with(GrantType::RefreshToken, true),
            metadata: ClientMetadata::default(),
            created_at: clock.now(),
        };
        tweak(&mut client);
        let mut repo = self.server.store.repo().await.expect("repo");
        repo.oauth2_clients().upsert(&client).await.expect("client");
        repo.save().await.expect("save");
        client
    }

    async fn grant_state(&self, id: Ulid) -> GrantState {
        let mut reader = self.server.store.reader().await.expect("reader");
        let grant = reader.oauth2_grants().find(id).await.expect("find");
        grant.expect("the grant exists").state()
    }
}

fn challenge() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
}

/// An authorization request's parameters: a Matrix client's by default (code + S256, the
/// unstable scopes with a QR device), changed with `set` and `remove`.
#[derive(Clone)]
struct Request(Vec<(String, String)>);

impl Request {
    fn new(client: &OAuth2Client) -> Self {
        Self(vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), client.id.to_string()),
            ("redirect_uri".into(), REDIRECT.into()),
            (
                "scope".into(),
                format!("{API} urn:matrix:org.matrix.msc2967.client:device:{QR_DEVICE}"),
            ),
            ("state".into(), "st4te/+ =".into()),
            ("code_challenge".into(), challenge()),
            ("code_challenge_method".into(), "S256".into()),
        ])
    }

    fn set(mut self, name: &str, value: &str) -> Self {
        self = self.remove(name);
        self.0.push((name.into(), value.into()));
        self
    }

    fn remove(mut self, name: &str) -> Self {
        self.0.retain(|(n, _)| n != name);
        self
    }

    fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.0)
            .finish()
    }

    fn path(&self) -> String {
        format!("/authorize?{}", self.query())
    }
}

fn pairs(text: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

/// The parameters of a redirect to the client: the query or the fragment of `Location`.
fn redirect_params(page: &Page, fragment: bool) -> BTreeMap<String, String> {
    assert_eq!(page.status, 303, "a redirect: {}", page.body);
    let location = url::Url::parse(&page.location().expect("Location")).expect("URL");
    let part = if fragment {
        location.fragment()
    } else {
        location.query()
    };
    pairs(part.unwrap_or_default())
}

/// Where `page` redirects inside Gatehouse (as a path and query), asserting it does.
fn internal(page: &Page) -> String {
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location().expect("Location");
    let base = url::Url::parse("http://relative.invalid/").expect("URL");
    let target = base.join(&location).expect("a URL");
    assert!(
        matches!(target.host_str(), Some("relative.invalid" | "127.0.0.1"))
            && !target.as_str().contains("client.example"),
        "stays on Gatehouse: {location}"
    );
    match target.query() {
        Some(query) => format!("{}?{query}", target.path()),
        None => target.path().to_owned(),
    }
}

/// A refusal shown to the person: the status, a page, and no way to the client.
fn assert_error_page(page: &Page, status: u16, says: &str) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(page.location().is_none(), "no redirect");
    assert!(page.body.contains(says), "{says:?} in {}", page.body);
    assert!(
        !page.body.contains("client.example/callback?"),
        "{}",
        page.body
    );
}

/// Sign in on the page `login` leads to (a redirect to `/login?...`); answers the POST.
async fn sign_in_at(browser: &mut Browser, login: &str, username: &str) -> Page {
    assert!(login.starts_with("/login?"), "{login}");
    let form = browser.get(login).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.input("csrf").expect("csrf");
    let next = form.input("next").expect("next");
    browser
        .post_form(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", PASSWORD),
                ("next", &next),
            ],
        )
        .await
}

/// From `/authorize` through sign-in (unless signed in already) to the consent page, which is
/// returned.
async fn to_consent(browser: &mut Browser, request: &Request, username: &str) -> Page {
    let start = browser.get(&request.path()).await;
    let mut consent = internal(&start);
    if consent.starts_with("/login?") {
        let signed_in = sign_in_at(browser, &consent, username).await;
        consent = internal(&signed_in);
    }
    assert!(consent.starts_with("/consent/"), "{consent}");
    let page = browser.get(&consent).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

fn grant_id(consent: &Page) -> Ulid {
    let action = consent.body.split("action=\"").nth(1).expect("a form");
    let action = &action[..action.find('"').expect("quoted")];
    action
        .trim_start_matches("&#x2f;consent&#x2f;")
        .trim_start_matches("/consent/")
        .parse()
        .expect("grant id in the form action")
}

fn action(consent: &Page) -> String {
    format!("/consent/{}", grant_id(consent))
}

async fn answer(browser: &mut Browser, consent: &Page, choice: &str) -> Page {
    let csrf = consent.input("csrf").expect("csrf");
    let session = consent.input("session").expect("session");
    browser
        .post_form(
            &action(consent),
            &[("csrf", &csrf), ("session", &session), ("action", choice)],
        )
        .await
}

/// The form-post page's fields and where it posts.
fn form_post(page: &Page) -> (String, BTreeMap<String, String>) {
    assert_eq!(page.status, 200, "{}", page.body);
    let action = page.body.split("action=\"").nth(1).expect("a form");
    let action = action[..action.find('"').expect("quoted")].to_owned();
    let mut fields = BTreeMap::new();
    for input in page.body.split("<input type=\"hidden\" ").skip(1) {
        let name = input
            .split("name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next());
        let name = name.expect("name").to_owned();
        let value = page.input(&name).expect("value");
        fields.insert(name, value);
    }
    (action, fields)
}

/// `POST /oauth2/token` with the code, as a public client sends it; the token response.
async fn exchange_at(env: &Env, client: &OAuth2Client, code: &str, redirect: &str) -> Value {
    let s = &env.server;
    let client_id = client.id.to_string();
    let response = s
        .http
        .post(s.at("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(status, 200, "the code is exchanged: {body}");
    body
}

async fn exchange(env: &Env, client: &OAuth2Client, code: &str) -> Value {
    exchange_at(env, client, code, REDIRECT).await
}

async fn verified_claims(env: &Env, id_token: &str) -> serde_json::Map<String, Value> {
    let s = &env.server;
    let jwks: Value = s
        .http
        .get(s.at("/oauth2/keys.json"))
        .send()
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JSON");
    PublicKeySet::from_jwks(&jwks)
        .expect("key set")
        .verify(id_token)
        .expect("the ID token verifies against the served JWK Set")
        .claims
}

async fn code_flow_in_every_response_mode(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    for (n, mode) in ["query", "fragment", "form_post", ""]
        .into_iter()
        .enumerate()
    {
        let name = format!("alice{n}");
        let user = env.user(&name, false).await;
        let mut browser = env.browser();
        let mut request = Request::new(&client);
        if !mode.is_empty() {
            request = request.set("response_mode", mode);
        }
        let consent = to_consent(&mut browser, &request, &name).await;
        assert!(
            consent.body.contains(&format!("@{name}:example.test")),
            "{}",
            consent.body
        );
        assert!(
            consent
                .body
                .contains("hB3v+Zy0yQ&#x2f;LW9wC8nF0rV7c2mY4k1s6qP5dXo+gT&#x2f;8"),
            "the device is named"
        );
        let done = answer(&mut browser, &consent, "approve").await;
        assert_eq!(done.header("cache-control").as_deref(), Some("no-store"));
        let params = match mode {
            "form_post" => {
                let (target, fields) = form_post(&done);
                assert_eq!(target, REDIRECT);
                fields
            }
            "fragment" => redirect_params(&done, true),
            _ => {
                assert!(
                    done.location().expect("Location").starts_with(REDIRECT),
                    "to the registered URI"
                );
                redirect_params(&done, false)
            }
        };
        assert_eq!(params["state"], "st4te/+ =", "state comes back unchanged");
        assert_eq!(params["iss"], env.issuer(), "RFC 9207");
        let issued = exchange(&env, &client, &params["code"]).await;
        let token = issued["access_token"].as_str().expect("access token");
        let introspected = env.server.introspect(token, true).await;
        assert_eq!(introspected["active"], true, "{introspected}");
        assert_eq!(introspected["sub"], user.id.to_string(), "{introspected}");
        assert_eq!(introspected["device_id"], QR_DEVICE, "{introspected}");
    }
}

async fn remembered_consent_skips_the_page_until_the_scope_grows(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    env.user("bob", false).await;
    let mut browser = env.browser();
    let consent = to_consent(&mut browser, &Request::new(&client), "bob").await;
    let done = answer(&mut browser, &consent, "approve").await;
    assert!(redirect_params(&done, false).contains_key("code"));

    // Same scope, another device: straight back with a code.
    let again = Request::new(&client).set(
        "scope",
        &format!("{API} urn:matrix:org.matrix.msc2967.client:device:ANOTHERDEVICE"),
    );
    let direct = browser.get(&again.path()).await;
    let params = redirect_params(&direct, false);
    assert!(params.contains_key("code"), "no page: {params:?}");
    assert_eq!(params["iss"], env.issuer());

    // prompt=consent asks anyway.
    let asked = browser
        .get(&again.clone().set("prompt", "consent").path())
        .await;
    let page = browser.get(&internal(&asked)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("name=\"action\" value=\"approve\""));

    // A wider scope asks again.
    let wider = again.set("scope", &format!("{API} email"));
    let asked = browser.get(&wider.path()).await;
    let consent = internal(&asked);
    assert!(consent.starts_with("/consent/"), "{consent}");
    let page = browser.get(&consent).await;
    assert!(
        page.body.contains("See your email addresses"),
        "{}",
        page.body
    );
}

async fn unknown_clients_and_foreign_redirects_get_a_page(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    let two = env
        .client(&[REDIRECT, "https://client.example/other"], |_| {})
        .await;
    let loopback = env.client(&["http://127.0.0.1/callback"], |_| {}).await;
    let mut browser = env.browser();

    for client_id in [Ulid::nil().to_string(), "not-a-ulid".to_owned()] {
        let page = browser
            .get(&Request::new(&client).set("client_id", &client_id).path())
            .await;
        assert_error_page(&page, 400, "Unknown application");
    }
    let page = browser
        .get(&Request::new(&client).remove("client_id").path())
        .await;
    assert_error_page(&page, 400, "Unknown application");

    for redirect in [
        "https://client.example:8443/callback",
        "https://client.example/callback/more",
        "https://client.example/callback?x=1",
        "https://client.example/callback#x",
        "https://client.example@evil.example/callback",
        "https://evil.example/callback",
        "http://client.example/callback",
        "//evil.example/callback",
        "http://127.0.0.1:9999/callback",
    ] {
        let page = browser
            .get(&Request::new(&client).set("redirect_uri", redirect).path())
            .await;
        assert_error_page(&page, 400, "sign-in link is wrong");
    }
    // Without redirect_uri: the only one, or a page when there are several.
    let only = browser
        .get(&Request::new(&client).remove("redirect_uri").path())
        .await;
    assert!(internal(&only).starts_with("/login?"));
    let page = browser
        .get(&Request::new(&two).remove("redirect_uri").path())
        .await;
    assert_error_page(&page, 400, "did not say where to return to");

    // RFC 8252 §7.3: a loopback redirect on any port, but only the registered path.
    let native = Request::new(&loopback).set("redirect_uri", "http://127.0.0.1:51234/callback");
    assert!(internal(&browser.get(&native.path()).await).starts_with("/login?"));
    let page = browser
        .get(
            &native
                .set("redirect_uri", "http://127.0.0.1:51234/elsewhere")
                .path(),
        )
        .await;
    assert_error_page(&page, 400, "sign-in link is wrong");
}

async fn refusals_after_validation_go_to_the_client(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    let mut browser = env.browser();
    let refused = |request: Request| {
        let path = request.path();
        let mut browser = env.browser();
        async move { redirect_params(&browser.get(&path).await, false) }
    };

    let cases = [
        (
            Request::new(&client)
                .remove("code_challenge")
                .remove("code_challenge_method"),
            "invalid_request",
        ),
        (
            Request::new(&client).set("code_challenge", "short"),
            "invalid_request",
        ),
        (
            Request::new(&client).set("code_challenge_method", "S512"),
            "invalid_request",
        ),
        (
            Request::new(&client).set("response_type", "token"),
            "unsupported_response_type",
        ),
        (
            Request::new(&client).remove("response_type"),
            "invalid_request",
        ),
        (
            Request::new(&client).set("response_mode", "web_message"),
            "invalid_request",
        ),
        (
            Request::new(&client).set("scope", "bad\"scope"),
            "invalid_scope",
        ),
        (Request::new(&client).remove("scope"), "invalid_scope"),
        (
            Request::new(&client).set("scope", &format!("{API} urn:matrix:client:device:short")),
            "invalid_scope",
        ),
        (
            Request::new(&client).set(
                "scope",
                &format!(
                    "{API} urn:matrix:client:device:AAAAAAAAAA urn:matrix:client:device:BBBBBBBBBB"
                ),
            ),
            "invalid_scope",
        ),
        (
            Request::new(&client).set("prompt", "none login"),
            "invalid_request",
        ),
        (
            Request::new(&client).set("prompt", "sometimes"),
            "invalid_request",
        ),
        (
            Request::new(&client).set("max_age", "-1"),
            "invalid_request",
        ),
        (
            Request::new(&client).set("request", "eyJ.x.y"),
            "request_not_supported",
        ),
        // No session in a fresh browser.
        (
            Request::new(&client).set("prompt", "none"),
            "login_required",
        ),
    ];
    for (request, error) in cases {
        let params = refused(request.clone()).await;
        assert_eq!(
            params.get("error").map(String::as_str),
            Some(error),
            "{}",
            request.query()
        );
        assert_eq!(params["state"], "st4te/+ =");
        assert_eq!(params["iss"], env.issuer());
        assert!(!params.contains_key("code"));
    }

    // An error in the fragment when the client asked for it.
    let page = browser
        .get(
            &Request::new(&client)
                .set("response_mode", "fragment")
                .set("prompt", "none")
                .path(),
        )
        .await;
    assert_eq!(redirect_params(&page, true)["error"], "login_required");

    // A confidential client may leave PKCE out (RFC 9700 §2.1.1 requires it of public ones).
    let confidential = env
        .client(&[REDIRECT], |client| {
            client.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::ClientSecretBasic);
        })
        .await;
    let without_pkce = Request::new(&confidential)
        .remove("code_challenge")
        .remove("code_challenge_method");
    assert!(internal(&browser.get(&without_pkce.path()).await).starts_with("/login?"));

    // Signed in, but never consented: consent_required.
    env.user("carol", false).await;
    assert_eq!(browser.sign_in("carol", PASSWORD).await.status, 303);
    let params = redirect_params(
        &browser
            .get(&Request::new(&client).set("prompt", "none").path())
            .await,
        false,
    );
    assert_eq!(params["error"], "consent_required");
}

async fn consent_needs_csrf_and_the_browser_that_asked(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    env.user("dave", false).await;
    env.user("mallory", false).await;
    let mut victim = env.browser();
    let consent = to_consent(&mut victim, &Request::new(&client), "dave").await;
    let id = grant_id(&consent);
    let path = action(&consent);
    let session = consent.input("session").expect("session");

    // No CSRF token, a wrong one: 403, nothing approved.
    for csrf in [None, Some("wrong-token")] {
        let mut form = vec![("session", session.as_str()), ("action", "approve")];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let page = victim.post_form(&path, &form).await;
        assert_error_page(&page, 403, "Session expired");
        assert!(page.location().is_none());
        assert_eq!(env.grant_state(id).await, GrantState::Pending);
    }

    // Another browser, signed in as another user, cannot use the link or answer it.
    let mut other = env.browser();
    assert_eq!(other.sign_in("mallory", PASSWORD).await.status, 303);
    let page = other.get(&path).await;
    assert_error_page(&page, 403, "started elsewhere");
    let own_csrf = other
        .get("/")
        .await
        .input("csrf")
        .expect("a CSRF token of its own");
    let page = other
        .post_form(
            &path,
            &[
                ("csrf", &own_csrf),
                ("session", &session),
                ("action", "approve"),
            ],
        )
        .await;
    assert_error_page(&page, 403, "started elsewhere");
    assert_eq!(env.grant_state(id).await, GrantState::Pending);

    // The same attack on an attacker's own request: the victim's browser refuses the link.
    let attackers = to_consent(&mut other, &Request::new(&client), "mallory").await;
    let page = victim.get(&action(&attackers)).await;
    assert_error_page(&page, 403, "started elsewhere");
    // Even with the victim's own CSRF token (a same-site form, say).
    let page = victim
        .post_form(
            &action(&attackers),
            &[
                ("csrf", &consent.input("csrf").expect("csrf")),
                ("session", &session),
                ("action", "approve"),
            ],
        )
        .await;
    assert_error_page(&page, 403, "started elsewhere");
    assert_eq!(
        env.grant_state(grant_id(&attackers)).await,
        GrantState::Pending
    );

    // The victim's own answer works, once.
    let done = answer(&mut victim, &consent, "approve").await;
    assert!(redirect_params(&done, false).contains_key("code"));
    assert_eq!(env.grant_state(id).await, GrantState::Fulfilled);
    let replay = answer(&mut victim, &consent, "approve").await;
    assert_error_page(&replay, 400, "already answered");
    let replay = answer(&mut victim, &consent, "deny").await;
    assert_error_page(&replay, 400, "already answered");
    assert_eq!(env.grant_state(id).await, GrantState::Fulfilled);
}

async fn deny_sends_access_denied(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    env.user("erin", false).await;
    let mut browser = env.browser();
    let consent = to_consent(&mut browser, &Request::new(&client), "erin").await;
    let page = answer(&mut browser, &consent, "deny").await;
    let params = redirect_params(&page, false);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st4te/+ =");
    assert_eq!(params["iss"], env.issuer());
    assert_eq!(
        env.grant_state(grant_id(&consent)).await,
        GrantState::Cancelled
    );
}

async fn prompt_login_and_max_age_want_a_fresh_sign_in(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    env.user("frank", false).await;
    let mut browser = env.browser();
    // Signed in and consented once.
    let consent = to_consent(&mut browser, &Request::new(&client), "frank").await;
    let first_session = consent.input("session").expect("session");
    let done = answer(&mut browser, &consent, "approve").await;
    assert!(redirect_params(&done, false).contains_key("code"));
    env.server.clock.advance(Duration::minutes(5));

    for prompt in ["login", "create"] {
        let start = browser
            .get(&Request::new(&client).set("prompt", prompt).path())
            .await;
        let login = internal(&start);
        assert!(login.contains("prompt=login"), "{login}");
        // Going to the consent step directly does not skip the sign-in.
        let consent_path = pairs(login.trim_start_matches("/login?"))["next"].clone();
        let skipped = browser.get(&consent_path).await;
        assert!(internal(&skipped).starts_with("/login?"));
        let signed_in = sign_in_at(&mut browser, &login, "frank").await;
        let back = browser.get(&internal(&signed_in)).await;
        // Consent is remembered: back to the client, from the new browser session.
        let code = redirect_params(&back, false)["code"].clone();
        exchange(&env, &client, &code).await;
        let grant_id: Ulid = consent_path
            .trim_start_matches("/consent/")
            .parse()
            .expect("grant id");
        let mut reader = env.server.store.reader().await.expect("reader");
        let grant = reader.oauth2_grants().find(grant_id).await.expect("find");
        let approved_by = grant.and_then(|g| g.user_session_id).expect("a session");
        assert_ne!(
            approved_by.to_string(),
            first_session,
            "a fresh sign-in, not the old session"
        );
        env.server.clock.advance(Duration::minutes(1));
    }

    // max_age: a sign-in a minute old is too old for 30 s, fine for an hour.
    let fine = browser
        .get(&Request::new(&client).set("max_age", "3600").path())
        .await;
    assert!(redirect_params(&fine, false).contains_key("code"));
    let stale = browser
        .get(&Request::new(&client).set("max_age", "30").path())
        .await;
    assert!(internal(&stale).contains("prompt=login"));
    let none = browser
        .get(
            &Request::new(&client)
                .set("max_age", "30")
                .set("prompt", "none")
                .path(),
        )
        .await;
    assert_eq!(redirect_params(&none, false)["error"], "login_required");
}

async fn login_hint_fills_in_the_username(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    let mut browser = env.browser();
    let hinted = browser
        .get(
            &Request::new(&client)
                .set("login_hint", "mxid:@grace:example.test")
                .path(),
        )
        .await;
    let login = internal(&hinted);
    let page = browser.get(&login).await;
    assert_eq!(
        page.input("username").as_deref(),
        Some("grace"),
        "{}",
        page.body
    );
    for hint in [
        "mxid:@grace:elsewhere.example",
        "grace@example.test",
        "mxid:grace",
    ] {
        let other = browser
            .get(&Request::new(&client).set("login_hint", hint).path())
            .await;
        let page = browser.get(&internal(&other)).await;
        assert_eq!(page.input("username").as_deref(), Some(""), "{hint}");
    }
}

async fn hostile_input_gets_a_page_never_a_500(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    let mut browser = env.browser();
    let base = Request::new(&client).query();
    let big_state = "s".repeat(10 * 1024);
    for query in [
        Request::new(&client).set("state", &big_state).query(),
        format!("{base}&nonce=%FF%FE"),
        format!("{base}&nonce=a%00b"),
        format!("{base}&login_hint=%0D%0ASet-Cookie:x=y"),
        format!("{base}&state=twice"),
        format!("client_id=%C0%80&{}", base.replacen("client_id", "x", 1)),
    ] {
        let page = browser.get(&format!("/authorize?{query}")).await;
        assert_error_page(&page, 400, "cannot be read");
    }
    // Escaped, never executed, never a 500.
    let page = browser
        .get(
            &Request::new(&client)
                .set("client_id", "<script>alert(1)</script>")
                .path(),
        )
        .await;
    assert_error_page(&page, 400, "Unknown application");
    assert!(!page.body.contains("<script>alert"));

    // The form POST, with a body that is not UTF-8.
    let response = env
        .server
        .http
        .post(env.server.at("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0x00])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 400);
    // Consent URLs that name nothing.
    for path in ["/consent/not-a-ulid", &format!("/consent/{}", Ulid::nil())] {
        let page = browser.get(path).await;
        assert_error_page(&page, 404, "not known");
    }
    let page = browser
        .post_form("/consent/not-a-ulid", &[("x", "\u{0}")])
        .await;
    assert_eq!(page.status, 400);
}

async fn the_request_can_be_a_form_post(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    let request = Request::new(&client);
    let mut browser = env.browser();
    let fields: Vec<(&str, &str)> = request
        .0
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let page = browser.post_form("/authorize", &fields).await;
    assert!(internal(&page).starts_with("/login?"));
    let page = browser
        .post_form("/authorize", &[("client_id", "x"), ("client_id", "y")])
        .await;
    assert_error_page(&page, 400, "cannot be read");
}

async fn expired_requests_are_refused(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    env.user("heidi", false).await;
    let mut browser = env.browser();
    let consent = to_consent(&mut browser, &Request::new(&client), "heidi").await;
    env.server.clock.advance(Duration::minutes(10));
    let page = browser.get(&action(&consent)).await;
    assert_error_page(&page, 400, "expired");
    let page = answer(&mut browser, &consent, "approve").await;
    assert_error_page(&page, 400, "expired");
    assert_eq!(
        env.grant_state(grant_id(&consent)).await,
        GrantState::Pending
    );
}

async fn the_consent_page_shows_the_client_and_admin_rights(db: TestDb) {
    let env = env(db).await;
    let client = env
        .client(&[REDIRECT], |client| {
            client.client_name = Some("<b>Evil</b> & Co".into());
            client.metadata.logo_uri = Some("https://client.example/logo.png".into());
        })
        .await;
    let insecure = env
        .client(&[REDIRECT], |client| {
            client.metadata.logo_uri = Some("http://client.example/logo.png".into());
            client.client_uri = Some("javascript:alert(1)".into());
        })
        .await;
    env.user("ivan", true).await;
    let mut browser = env.browser();
    let scope = format!(
        "openid urn:matrix:client:api:* urn:synapse:admin:* urn:matrix:client:device:{QR_DEVICE}"
    );
    let request = Request::new(&client).set("scope", &scope);
    let page = to_consent(&mut browser, &request, "ivan").await;
    assert!(
        page.body.contains("&lt;b&gt;Evil&lt;&#x2f;b&gt; &amp; Co"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<b>Evil"));
    assert!(
        page.body
            .contains("src=\"https:&#x2f;&#x2f;client.example&#x2f;logo.png\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("wants administrator rights"));
    assert!(page.body.contains("Synapse admin API"));
    assert!(page.body.contains("client.example"));
    assert!(page.body.contains("@ivan:example.test"));
    assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
    let done = answer(&mut browser, &page, "approve").await;
    let code = redirect_params(&done, false)["code"].clone();
    let issued = exchange(&env, &client, &code).await;
    assert!(
        issued["scope"]
            .as_str()
            .is_some_and(|scope| scope.split(' ').any(|s| s == "urn:synapse:admin:*")),
        "{issued}"
    );

    let asked = browser
        .get(&Request::new(&insecure).set("prompt", "consent").path())
        .await;
    let page = browser.get(&internal(&asked)).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("logo.png"), "no http logo");
    assert!(!page.body.contains("javascript"), "no script link");
    assert!(!page.body.contains("wants administrator rights"));

    // A user who may not have admin rights gets invalid_scope, not a code.
    env.user("judy", false).await;
    let mut browser = env.browser();
    let page = to_consent(&mut browser, &request, "judy").await;
    let done = answer(&mut browser, &page, "approve").await;
    assert_eq!(redirect_params(&done, false)["error"], "invalid_scope");
}

async fn a_registered_native_client_signs_in_on_any_loopback_port(db: TestDb) {
    let env = env(db).await;
    env.user("kim", false).await;
    let (status, registered) = env
        .server
        .post_json(
            "/oauth2/registration",
            json!({
                "redirect_uris": ["http://127.0.0.1/callback"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "application_type": "native",
                "client_uri": "https://example.org/",
                "client_name": "Native app",
            }),
        )
        .await;
    assert_eq!(status, 201, "{registered}");
    let client_id = registered["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    let mut reader = env.server.store.reader().await.expect("reader");
    let client = reader
        .oauth2_clients()
        .find(client_id.parse().expect("ULID"))
        .await
        .expect("find")
        .expect("registered");
    drop(reader);
    let redirect = "http://127.0.0.1:43210/callback";
    let request = Request::new(&client).set("redirect_uri", redirect);
    let mut browser = env.browser();
    let consent = to_consent(&mut browser, &request, "kim").await;
    assert!(consent.body.contains("Native app"));
    let done = answer(&mut browser, &consent, "approve").await;
    assert!(done.location().expect("Location").starts_with(redirect));
    let code = redirect_params(&done, false)["code"].clone();
    // The port the app used is the redirect_uri it sends again.
    exchange_at(&env, &client, &code, redirect).await;
    // Hybrid is not something this client registered.
    let hybrid = Request::new(&client)
        .set("redirect_uri", redirect)
        .set("response_type", "code id_token")
        .set("scope", "openid")
        .set("nonce", "n");
    let page = browser.get(&hybrid.path()).await;
    assert_eq!(redirect_params(&page, true)["error"], "unauthorized_client");
}

async fn hybrid_code_id_token_carries_a_bound_id_token(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    let user = env.user("leo", false).await;
    let hybrid = Request::new(&client)
        .set("response_type", "code id_token")
        .set("scope", &format!("openid {API}"))
        .set("nonce", "n-0S6_WzA2Mj");

    // Refusals in the fragment, the hybrid flow's default.
    let mut browser = env.browser();
    for (request, error) in [
        (hybrid.clone().remove("nonce"), "invalid_request"),
        (hybrid.clone().set("scope", API), "invalid_request"),
        (
            hybrid.clone().set("response_mode", "query"),
            "invalid_request",
        ),
    ] {
        let page = browser.get(&request.path()).await;
        let params = redirect_params(&page, true);
        assert_eq!(
            params.get("error").map(String::as_str),
            Some(error),
            "{}",
            request.query()
        );
        assert_eq!(params["iss"], env.issuer());
    }

    for mode in ["", "form_post"] {
        let mut request = hybrid.clone().set("prompt", "consent");
        if !mode.is_empty() {
            request = request.set("response_mode", mode);
        }
        let consent = to_consent(&mut browser, &request, "leo").await;
        let done = answer(&mut browser, &consent, "approve").await;
        let params = if mode.is_empty() {
            redirect_params(&done, true)
        } else {
            form_post(&done).1
        };
        assert_eq!(params["state"], "st4te/+ =");
        let code = &params["code"];
        let claims = verified_claims(&env, &params["id_token"]).await;
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(claims["sub"], user.id.to_string());
        assert_eq!(claims["aud"], client.id.to_string());
        let digest = sha2::Sha256::digest(code.as_bytes());
        let c_hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
        assert_eq!(claims["c_hash"], c_hash, "OIDC Core §3.3.2.11");
        assert!(claims.contains_key("auth_time") && claims.contains_key("sid"));
        let issued = exchange(&env, &client, code).await;
        assert!(issued["id_token"].is_string(), "{issued}");
    }
}

async fn switching_accounts_shows_the_page_again_for_the_new_one(db: TestDb) {
    let env = env(db).await;
    let client = env.client(&[REDIRECT], |_| {}).await;
    env.user("mia", false).await;
    let nina = env.user("nina", false).await;
    let mut browser = env.browser();
    let shown_to_mia = to_consent(&mut browser, &Request::new(&client), "mia").await;
    assert!(shown_to_mia.body.contains("@mia:example.test"));
    // "Not you?": the sign-in form even though signed in, then back to the same request.
    let switch = format!(
        "/login?prompt=login&next={}",
        url::form_urlencoded::byte_serialize(action(&shown_to_mia).as_bytes()).collect::<String>()
    );
    let signed_in = sign_in_at(&mut browser, &switch, "nina").await;
    let shown_to_nina = browser.get(&internal(&signed_in)).await;
    assert!(
        shown_to_nina.body.contains("@nina:example.test"),
        "{}",
        shown_to_nina.body
    );
    // The answer on the page shown to mia does not approve anything for nina.
    let stale = answer(&mut browser, &shown_to_mia, "approve").await;
    assert_eq!(internal(&stale), action(&shown_to_mia), "shown again");
    assert_eq!(
        env.grant_state(grant_id(&shown_to_mia)).await,
        GrantState::Pending
    );
    let done = answer(&mut browser, &shown_to_nina, "approve").await;
    let code = redirect_params(&done, false)["code"].clone();
    let issued = exchange(&env, &client, &code).await;
    let token = issued["access_token"].as_str().expect("access token");
    assert_eq!(
        env.server.introspect(token, true).await["sub"],
        nina.id.to_string()
    );
}

on_both_backends!(
    code_flow_in_every_response_mode,
    remembered_consent_skips_the_page_until_the_scope_grows,
    unknown_clients_and_foreign_redirects_get_a_page,
    refusals_after_validation_go_to_the_client,
    consent_needs_csrf_and_the_browser_that_asked,
    deny_sends_access_denied,
    prompt_login_and_max_age_want_a_fresh_sign_in,
    login_hint_fills_in_the_username,
    hostile_input_gets_a_page_never_a_500,
    the_request_can_be_a_form_post,
    expired_requests_are_refused,
    the_consent_page_shows_the_client_and_admin_rights,
    a_registered_native_client_signs_in_on_any_loopback_port,
    hybrid_code_id_token_carries_a_bound_id_token,
    switching_accounts_shows_the_page_again_for_the_new_one,
);

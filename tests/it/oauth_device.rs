//! The device authorization grant end to end (RFC 8628): `POST /oauth2/device`, the person
//! typing the user code on `/link` and answering on the consent page, and the device's polls
//! of `POST /oauth2/token`.
//! Also what must never work: guessing codes without limit, forms without CSRF tokens,
//! approving a grant this browser never typed the code of, and hostile input. On both backends.

use chrono::Duration;
use gatehouse::domain::oauth2_clients::{GrantType, OAuth2Client, TokenEndpointAuthMethod};
use serde_json::Value;

use crate::{
    browser::{Browser, Page},
    common::TestDb,
    hardening::{PASSWORD, Setup},
    oauth2_grants::{add_client, user},
    on_both_backends,
};

const SCOPE: &str = "openid urn:matrix:client:api:* urn:matrix:client:device:LIVINGROOM";
const TV_AGENT: &str = "ExampleTV/2.1 (living room)";

async fn device_client(setup: &Setup) -> OAuth2Client {
    add_client(
        setup,
        TokenEndpointAuthMethod::None,
        &[GrantType::DeviceCode, GrantType::RefreshToken],
    )
    .await
}

/// `POST /oauth2/device` as a TV would send it: status, headers and JSON body.
async fn authorize_device(
    setup: &Setup,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = setup
        .server
        .http
        .post(setup.server.at("/oauth2/device"))
        .header("user-agent", TV_AGENT)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// A device authorization for `client`: the device code and the user code.
async fn start(setup: &Setup, client: &OAuth2Client, scope: &str) -> (String, String) {
    let (status, _, body) = authorize_device(
        setup,
        &[("client_id", &client.id.to_string()), ("scope", scope)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        body["device_code"].as_str().unwrap().to_owned(),
        body["user_code"].as_str().unwrap().to_owned(),
    )
}

/// The device polls the token endpoint (RFC 8628 §3.4): status, `Cache-Control` and body.
async fn poll(
    setup: &Setup,
    client: &OAuth2Client,
    device_code: &str,
) -> (u16, Option<String>, Value) {
    let client_id = client.id.to_string();
    let response = setup
        .server
        .http
        .post(setup.server.at("/oauth2/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let cache_control = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, cache_control, response.json().await.unwrap())
}

/// What a poll gets: its RFC 8628 §3.5 error (always a 400), or `tokens`.
async fn refusal(setup: &Setup, client: &OAuth2Client, device_code: &str) -> String {
    let (status, _, body) = poll(setup, client, device_code).await;
    if status == 200 {
        return "tokens".to_owned();
    }
    assert_eq!(status, 400, "{body}");
    body["error"].as_str().unwrap().to_owned()
}

/// Wait out the poll interval on the test clock.
fn wait_interval(setup: &Setup, seconds: i64) {
    setup.server.clock.advance(Duration::seconds(seconds));
}

/// A browser signed in as `name` (registered here).
async fn signed_in(setup: &Setup, name: &str) -> Browser {
    user(setup, name, false).await;
    let mut browser = Browser::new(&setup.server.url);
    let answer = browser.sign_in(name, PASSWORD).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    browser
}

/// Type `code` on `/link` (fetching the form for its CSRF token first).
async fn type_code(browser: &mut Browser, code: &str) -> Page {
    let form = browser.get("/link").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.input("csrf").expect("the link form has a CSRF token");
    browser
        .post_form("/link", &[("csrf", &csrf), ("code", code)])
        .await
}

/// Type `code` and follow to the consent page; returns its path and the page.
async fn open_consent(browser: &mut Browser, code: &str) -> (String, Page) {
    let typed = type_code(browser, code).await;
    assert_eq!(typed.status, 303, "{}", typed.body);
    let consent_path = typed.location().expect("redirect to the consent page");
    let consent = browser.get(&consent_path).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    (consent_path, consent)
}

async fn answer(browser: &mut Browser, consent_path: &str, csrf: &str, action: &str) -> Page {
    browser
        .post_form(consent_path, &[("csrf", csrf), ("action", action)])
        .await
}

async fn whole_flow_with_a_typed_code(db: TestDb) {
    let setup = Setup::start(&db).await;
    let client = device_client(&setup).await;
    let (status, headers, body) = authorize_device(
        &setup,
        &[("client_id", &client.id.to_string()), ("scope", SCOPE)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let user_code = body["user_code"].as_str().unwrap().to_owned();
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    assert_eq!(device_code.len(), 32);
    assert!(
        user_code.len() == 9 && user_code.as_bytes()[4] == b'-',
        "{user_code}"
    );
    assert_eq!(
        body["verification_uri"],
        format!("{}/link", setup.server.url)
    );
    // RFC 8628 §5.4: no link with the code in it unless the operator turns auto-fill on.
    assert!(body.get("verification_uri_complete").is_none(), "{body}");
    assert_eq!(body["expires_in"], 1200);
    assert_eq!(body["interval"], 5);

    // Before anyone answers: pending; polled again at once: slow down, 5 s more to wait.
    assert_eq!(
        refusal(&setup, &client, &device_code).await,
        "authorization_pending"
    );
    assert_eq!(refusal(&setup, &client, &device_code).await, "slow_down");
    wait_interval(&setup, 6);
    assert_eq!(
        refusal(&setup, &client, &device_code).await,
        "slow_down",
        "the interval grew to 10 s"
    );
    wait_interval(&setup, 16);
    assert_eq!(
        refusal(&setup, &client, &device_code).await,
        "authorization_pending"
    );

    // The person signs in and types the code in lower case, without the dash.
    let mut browser = signed_in(&setup, "alice").await;
    let typed = user_code.replace('-', "").to_lowercase();
    let (consent_path, consent) = open_consent(&mut browser, &typed).await;
    assert!(consent.body.contains("Test client"), "{}", consent.body);
    assert!(
        consent
            .body
            .contains("href=\"https:&#x2f;&#x2f;client.example&#x2f;\""),
        "{}",
        consent.body
    );
    assert!(consent.body.contains("@alice:example.test"));
    assert!(consent.body.contains("LIVINGROOM"), "the device is named");
    assert!(consent.body.contains("127.0.0.1"), "the request's address");
    assert!(
        consent.body.contains("ExampleTV&#x2f;2.1 (living room)"),
        "the request's agent"
    );
    assert!(consent.body.contains("Use your Matrix account"));
    assert!(!consent.body.contains("administrator rights"));
    let csrf = consent.input("csrf").unwrap();

    let done = answer(&mut browser, &consent_path, &csrf, "approve").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("go back to your device"),
        "{}",
        done.body
    );

    wait_interval(&setup, 20);
    let (status, cache_control, tokens) = poll(&setup, &client, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(cache_control.as_deref(), Some("no-store"));
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(
        tokens["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("mar_")
    );
    assert!(
        tokens["id_token"].is_string(),
        "openid was asked for: {tokens}"
    );
    let access_token = tokens["access_token"].as_str().unwrap();
    assert!(access_token.starts_with("mat_"));
    let introspected = setup.server.introspect(access_token, true).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["username"], "alice");
    assert_eq!(introspected["device_id"], "LIVINGROOM");

    // The device code is used up; the consent page is gone too.
    wait_interval(&setup, 10);
    assert_eq!(
        refusal(&setup, &client, &device_code).await,
        "invalid_grant"
    );
    let again = answer(&mut browser, &consent_path, &csrf, "approve").await;
    assert_ne!(again.status, 200);
    assert_eq!(
        type_code(&mut browser, &user_code).await.status,
        400,
        "an answered code is no longer accepted"
    );
    setup.server.stop().await;
}

async fn declined_and_expired(db: TestDb) {
    let setup = Setup::start(&db).await;
    let client = device_client(&setup).await;
    let mut browser = signed_in(&setup, "bob").await;

    // Declined: the device hears access_denied.
    let (device_code, user_code) = start(&setup, &client, SCOPE).await;
    let (consent_path, consent) = open_consent(&mut browser, &user_code).await;
    let csrf = consent.input("csrf").unwrap();
    let declined = answer(&mut browser, &consent_path, &csrf, "deny").await;
    assert_eq!(declined.status, 200, "{}", declined.body);
    assert!(declined.body.contains("declined"), "{}", declined.body);
    assert_eq!(
        refusal(&setup, &client, &device_code).await,
        "access_denied"
    );

    // Expired: the device hears expired_token, and the code typed late gets the very answer
    // an unknown code gets.
    let (device_code, user_code) = start(&setup, &client, SCOPE).await;
    let unknown = type_code(&mut browser, "BCDF-GHJK").await;
    assert_eq!(unknown.status, 400);
    setup.server.clock.advance(Duration::minutes(21));
    assert_eq!(
        refusal(&setup, &client, &device_code).await,
        "expired_token"
    );
    let late = type_code(&mut browser, &user_code).await;
    assert_eq!(late.status, unknown.status);
    let message = |page: &Page| {
        let start = page.body.find("role=\"alert\">").expect("a message");
        page.body[start..].split('<').next().unwrap().to_owned()
    };
    assert_eq!(message(&late), message(&unknown));

    // A consent page opened before expiry cannot be answered after it.
    let (device_code, user_code) = start(&setup, &client, SCOPE).await;
    let (consent_path, consent) = open_consent(&mut browser, &user_code).await;
    let csrf = consent.input("csrf").unwrap();
    setup.server.clock.advance(Duration::minutes(21));
    let too_late = answer(&mut browser, &consent_path, &csrf, "approve").await;
    assert_eq!(too_late.status, 400, "{}", too_late.body);
    assert_eq!(
        refusal(&setup, &client, &device_code).await,
        "expired_token"
    );
    setup.server.stop().await;
}

async fn guessing_is_rate_limited(db: TestDb) {
    // Per user: carol's guesses run out; dave, from the same address, still gets answers.
    let setup = Setup::start_with(&db, |config| {
        let limits = &mut config.rate_limiting.device_code_entry;
        limits.per_ip.burst = 1000;
        limits.per_ip.per_second = 1000.0;
        limits.per_user.burst = 3;
        limits.per_user.per_second = 0.001;
    })
    .await;
    let client = device_client(&setup).await;
    let (device_code, user_code) = start(&setup, &client, SCOPE).await;
    let mut carol = signed_in(&setup, "carol").await;
    for guess in ["BCDF-GHJK", "BCDF-GHJL", "BCDF-GHJM"] {
        assert_eq!(type_code(&mut carol, guess).await.status, 400);
    }
    let limited = type_code(&mut carol, &user_code).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.header("retry-after").is_some());
    assert!(limited.body.contains("Too many"), "{}", limited.body);
    let mut dave = signed_in(&setup, "dave").await;
    assert_eq!(type_code(&mut dave, "BCDF-GHJN").await.status, 400);
    assert_eq!(
        refusal(&setup, &client, &device_code).await,
        "authorization_pending",
        "the limited attempt with the right code opened nothing"
    );
    setup.server.stop().await;

    // Per address: erin's and frank's guesses from one address add up.
    let setup = Setup::start_with(&db, |config| {
        let limits = &mut config.rate_limiting.device_code_entry;
        limits.per_ip.burst = 3;
        limits.per_ip.per_second = 0.001;
    })
    .await;
    let mut erin = signed_in(&setup, "erin").await;
    let mut frank = signed_in(&setup, "frank").await;
    assert_eq!(type_code(&mut erin, "BCDF-GHJK").await.status, 400);
    assert_eq!(type_code(&mut erin, "BCDF-GHJL").await.status, 400);
    assert_eq!(type_code(&mut frank, "BCDF-GHJM").await.status, 400);
    assert_eq!(type_code(&mut frank, "BCDF-GHJN").await.status, 429);
    setup.server.stop().await;
}

async fn the_default_limit_stops_the_eleventh_guess(db: TestDb) {
    let setup = Setup::start(&db).await;
    let mut grace = signed_in(&setup, "grace").await;
    for _ in 0..10 {
        assert_eq!(type_code(&mut grace, "BCDF-GHJK").await.status, 400);
    }
    assert_eq!(type_code(&mut grace, "BCDF-GHJK").await.status, 429);
    setup.server.stop().await;
}

async fn forms_without_csrf_change_nothing(db: TestDb) {
    let setup = Setup::start(&db).await;
    let client = device_client(&setup).await;
    let (device_code, user_code) = start(&setup, &client, SCOPE).await;
    let mut browser = signed_in(&setup, "heidi").await;

    let no_token = browser.post_form("/link", &[("code", &user_code)]).await;
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    assert!(no_token.location().is_none(), "no way to the consent page");
    let wrong = browser
        .post_form("/link", &[("csrf", "forged"), ("code", &user_code)])
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert!(wrong.location().is_none(), "no way to the consent page");

    let (consent_path, _) = open_consent(&mut browser, &user_code).await;
    let forged = answer(&mut browser, &consent_path, "forged", "approve").await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let missing = browser
        .post_form(&consent_path, &[("action", "approve")])
        .await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert_eq!(
        refusal(&setup, &client, &device_code).await,
        "authorization_pending",
        "nothing was approved"
    );
    setup.server.stop().await;
}

async fn only_the_grant_this_browser_typed_can_be_answered(db: TestDb) {
    let setup = Setup::start(&db).await;
    let client = device_client(&setup).await;
    let (victim_device, victim_code) = start(&setup, &client, SCOPE).await;
    let (_, own_code) = start(&setup, &client, SCOPE).await;

    // Mallory finds the victim's grant id (her own browser typed the code) ...
    let mut mallory = signed_in(&setup, "mallory").await;
    let (victim_path, _) = open_consent(&mut mallory, &victim_code).await;

    // ... Ivan's browser types another code, then posts an answer for the victim's grant with
    // a valid CSRF token of its own.
    let mut ivan = signed_in(&setup, "ivan").await;
    let (_, own_consent) = open_consent(&mut ivan, &own_code).await;
    let csrf = own_consent.input("csrf").unwrap();
    let crafted = answer(&mut ivan, &victim_path, &csrf, "approve").await;
    assert_eq!(crafted.status, 403, "{}", crafted.body);
    let viewed = ivan.get(&victim_path).await;
    assert_eq!(viewed.status, 403, "the consent page is not shown either");

    // A browser that typed nothing at all.
    let mut judy = signed_in(&setup, "judy").await;
    let judy_csrf = judy.get("/link").await.input("csrf").unwrap();
    let blind = answer(&mut judy, &victim_path, &judy_csrf, "approve").await;
    assert_eq!(blind.status, 403, "{}", blind.body);

    // The cookie is bound to the user too: mallory's browser, signed out and signed in as
    // someone else, keeps the cookie but may not answer.
    let logout_csrf = mallory.get("/").await.input("csrf").unwrap();
    let out = mallory
        .post_form("/logout", &[("csrf", &logout_csrf)])
        .await;
    assert_eq!(out.status, 303);
    let signed_out = answer(&mut mallory, &victim_path, &logout_csrf, "approve").await;
    assert_eq!(signed_out.status, 401, "{}", signed_out.body);
    user(&setup, "olga", false).await;
    assert_eq!(mallory.sign_in("olga", PASSWORD).await.status, 303);
    let olga_csrf = mallory.get("/link").await.input("csrf").unwrap();
    let other = answer(&mut mallory, &victim_path, &olga_csrf, "approve").await;
    assert_eq!(other.status, 403, "{}", other.body);

    assert_eq!(
        refusal(&setup, &client, &victim_device).await,
        "authorization_pending",
        "the victim's grant is untouched"
    );
    setup.server.stop().await;
}

async fn clients_and_scopes_are_checked(db: TestDb) {
    let setup = Setup::start(&db).await;
    // A public client registered without the device grant.
    let code_only = add_client(
        &setup,
        TokenEndpointAuthMethod::None,
        &[GrantType::AuthorizationCode],
    )
    .await;
    let (status, headers, body) = authorize_device(
        &setup,
        &[("client_id", &code_only.id.to_string()), ("scope", SCOPE)],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(headers["cache-control"], "no-store");

    // An unknown client; a client sending a secret it does not have.
    let (status, _, body) =
        authorize_device(&setup, &[("client_id", "01JA8ZQ3XK5W7N2M4P6R9T1V3Y")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let client = device_client(&setup).await;
    let id = client.id.to_string();
    let (status, _, body) =
        authorize_device(&setup, &[("client_id", &id), ("client_secret", "x")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // Scopes outside the grammar, two devices at once.
    let (status, _, body) = authorize_device(
        &setup,
        &[("client_id", &id), ("scope", "openid \"quoted\"")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let two = "urn:matrix:client:device:AAAAAAAAAA urn:matrix:client:device:BBBBBBBBBB";
    let (status, _, body) = authorize_device(&setup, &[("client_id", &id), ("scope", two)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    // Admin rights are called out, and refused to an account that may not ask for them.
    let (device_code, user_code) = start(
        &setup,
        &client,
        "urn:matrix:client:api:* urn:synapse:admin:*",
    )
    .await;
    let mut browser = signed_in(&setup, "kim").await;
    let (consent_path, consent) = open_consent(&mut browser, &user_code).await;
    assert!(
        consent.body.contains("administrator rights"),
        "{}",
        consent.body
    );
    let csrf = consent.input("csrf").unwrap();
    let refused = answer(&mut browser, &consent_path, &csrf, "approve").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        refusal(&setup, &client, &device_code).await,
        "authorization_pending"
    );

    // A client site that is not a secure web address is not made a link.
    let mut odd = device_client(&setup).await;
    odd.client_uri = Some("javascript:alert(1)".into());
    let mut repo = setup.server.store.repo().await.unwrap();
    repo.oauth2_clients().upsert(&odd).await.unwrap();
    repo.save().await.unwrap();
    let (_, user_code) = start(&setup, &odd, SCOPE).await;
    let (_, consent) = open_consent(&mut browser, &user_code).await;
    assert!(!consent.body.contains("javascript"), "{}", consent.body);
    setup.server.stop().await;
}

async fn settings_turn_the_grant_and_the_link_off_and_on(db: TestDb) {
    let setup = Setup::start_with(&db, |config| {
        config.oauth.device_code_user_code_auto_fill_enabled = true;
    })
    .await;
    let client = device_client(&setup).await;
    let (_, _, body) = authorize_device(
        &setup,
        &[("client_id", &client.id.to_string()), ("scope", SCOPE)],
    )
    .await;
    let user_code = body["user_code"].as_str().unwrap();
    let complete = body["verification_uri_complete"].as_str().unwrap();
    assert_eq!(
        complete,
        format!("{}/link?code={user_code}", setup.server.url)
    );
    // Signed out, the link goes to sign-in first and comes back with the code.
    let mut browser = Browser::new(&setup.server.url);
    let detour = browser.get(complete).await;
    assert_eq!(detour.status, 303);
    let login = detour.location().unwrap();
    assert!(login.starts_with("/login?next="), "{login}");
    let next = url::form_urlencoded::parse(login.split_once('?').unwrap().1.as_bytes())
        .find(|(key, _)| key == "next")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(next, format!("/link?code={user_code}"));
    user(&setup, "leo", false).await;
    let form = browser.get("/login").await;
    let signed = browser
        .post_form(
            "/login",
            &[
                ("csrf", &form.input("csrf").unwrap()),
                ("username", "leo"),
                ("password", PASSWORD),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(signed.location().as_deref(), Some(complete));
    let prefilled = browser.get(complete).await;
    assert_eq!(prefilled.status, 200);
    assert_eq!(prefilled.input("code").as_deref(), Some(user_code));
    setup.server.stop().await;

    let setup = Setup::start_with(&db, |config| {
        config.oauth.device_code_grant_enabled = false;
    })
    .await;
    let client = device_client(&setup).await;
    let (status, _, body) = authorize_device(
        &setup,
        &[("client_id", &client.id.to_string()), ("scope", SCOPE)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let mut browser = signed_in(&setup, "mia").await;
    assert_eq!(browser.get("/link").await.status, 404);
    setup.server.stop().await;
}

async fn device_authorizations_are_rate_limited(db: TestDb) {
    let setup = Setup::start_with(&db, |config| {
        config.rate_limiting.device_authorization.burst = 2;
        config.rate_limiting.device_authorization.per_second = 0.001;
    })
    .await;
    let client = device_client(&setup).await;
    let id = client.id.to_string();
    start(&setup, &client, SCOPE).await;
    // A refused request counts too: it cost a lookup.
    let (status, _, _) = authorize_device(&setup, &[("client_id", "nobody")]).await;
    assert_eq!(status, 401);
    let (status, headers, body) =
        authorize_device(&setup, &[("client_id", &id), ("scope", SCOPE)]).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(headers["cache-control"], "no-store");
    setup.server.stop().await;
}

async fn hostile_input_is_a_bad_request(db: TestDb) {
    let setup = Setup::start_with(&db, |config| {
        config.rate_limiting.device_authorization.burst = 1000;
    })
    .await;
    let client = device_client(&setup).await;
    let id = client.id.to_string();
    let raw = |body: Vec<u8>| {
        setup
            .server
            .http
            .post(setup.server.at("/oauth2/device"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };

    // The device endpoint.
    let huge = "A".repeat(200_000);
    for body in [
        format!("client_id={id}&scope={huge}").into_bytes(),
        format!("client_id={huge}").into_bytes(),
        format!("client_id={id}%00&scope=openid").into_bytes(),
        format!("client_id={id}&scope=open%00id").into_bytes(),
        format!("client_id={id}&scope=%FF%FE").into_bytes(),
        b"client_id=\xff\xfe&scope=openid".to_vec(),
        b"%%%%".to_vec(),
        Vec::new(),
    ] {
        let response = raw(body).await.unwrap();
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "status {status}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
    }
    let not_a_form = setup
        .server
        .http
        .post(setup.server.at("/oauth2/device"))
        .json(&serde_json::json!({"client_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_a_form.status(), 400);

    // The link pages.
    let (device_code, _) = start(&setup, &client, SCOPE).await;
    let mut browser = signed_in(&setup, "nina").await;
    let csrf = browser.get("/link").await.input("csrf").unwrap();
    for code in [
        huge.as_str(),
        "BCDF\0GHJK",
        "BCDF-GHJ\u{FFFD}",
        "<script>",
        "",
    ] {
        let page = browser
            .post_form("/link", &[("csrf", &csrf), ("code", code)])
            .await;
        assert_eq!(page.status, 400, "{code:.20}");
        assert!(!page.body.contains("<script>"), "typed text is escaped");
    }
    for query in [
        "?code=%FF%FE",
        "?code=%00",
        "?code=%3Cscript%3E",
        "?code=a&code=b",
    ] {
        let page = browser.get(&format!("/link{query}")).await;
        assert!(
            page.status == 200 || page.status == 400,
            "{query}: {}",
            page.status
        );
        assert!(!page.body.contains("<script>"));
    }
    for path in [
        "/device/not-a-grant".to_owned(),
        format!("/device/{}", "7".repeat(5000)),
        "/device/%FF".to_owned(),
    ] {
        let shown = browser.get(&path).await;
        assert!(
            (400..500).contains(&shown.status),
            "{path:.30}: {}",
            shown.status
        );
        let posted = browser
            .post_form(&path, &[("csrf", &csrf), ("action", "approve")])
            .await;
        assert!(
            (400..500).contains(&posted.status),
            "{path:.30}: {}",
            posted.status
        );
    }
    assert_eq!(
        refusal(&setup, &client, &device_code).await,
        "authorization_pending"
    );
    setup.server.stop().await;
}

on_both_backends!(
    whole_flow_with_a_typed_code,
    declined_and_expired,
    guessing_is_rate_limited,
    the_default_limit_stops_the_eleventh_guess,
    forms_without_csrf_change_nothing,
    only_the_grant_this_browser_typed_can_be_answered,
    clients_and_scopes_are_checked,
    settings_turn_the_grant_and_the_link_off_and_on,
    device_authorizations_are_rate_limited,
    hostile_input_is_a_bad_request,
);

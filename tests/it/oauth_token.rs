//! `POST /oauth2/token`, `/oauth2/revoke` and `/oauth2/userinfo` over HTTP: the four grants
//! with their wire shapes (RFC 6749 §5.1/§5.2), ID tokens checked against the served JWK Set
//! (nonce, at_hash), client authentication, and the refusals an attacker would try (a replayed
//! code or refresh token, PKCE downgrade, wrong client, scope escalation, expired code,
//! malformed requests). The grant rules themselves are tested in `oauth2_grants`. On both
//! backends.

use base64::Engine;
use chrono::Duration;
use gatehouse::{
    crypto::jwt::PublicKeySet,
    domain::{
        oauth2_clients::{GrantType, OAuth2Client, TokenEndpointAuthMethod},
        users::User,
    },
    services::oauth2_sessions,
};
use serde_json::Value;
use sha2::Digest;

use crate::{
    common::TestDb,
    hardening::Setup,
    oauth2_grants::{REDIRECT, VERIFIER, add_client, approved_code, public_client, s256, user},
    on_both_backends,
};

const SECRET: &str = "a-long-client-secret-for-the-token-tests";
const API: &str = "urn:matrix:client:api:* urn:matrix:client:device:TOKENTESTS";

struct Answer {
    status: u16,
    body: Value,
    cache_control: Option<String>,
}

async fn post(setup: &Setup, path: &str, form: &[(&str, &str)]) -> Answer {
    post_with(setup, path, form, None).await
}

async fn post_with(
    setup: &Setup,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Answer {
    let s = &setup.server;
    let mut request = s.http.post(s.at(path)).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let cache_control = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
    };
    Answer {
        status,
        body,
        cache_control,
    }
}

#[track_caller]
fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"], code, "{}", answer.body);
}

async fn exchange_code(setup: &Setup, client: &OAuth2Client, code: &str) -> Answer {
    let client_id = client.id.to_string();
    post(
        setup,
        "/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", &client_id),
        ],
    )
    .await
}

async fn refresh(setup: &Setup, client: &OAuth2Client, token: &str) -> Answer {
    let client_id = client.id.to_string();
    post(
        setup,
        "/oauth2/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", &client_id),
        ],
    )
    .await
}

async fn verified_claims(setup: &Setup, id_token: &str) -> serde_json::Map<String, Value> {
    let s = &setup.server;
    let jwks: Value = s
        .http
        .get(s.at("/oauth2/keys.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    PublicKeySet::from_jwks(&jwks)
        .unwrap()
        .verify(id_token)
        .expect("the ID token verifies against the served JWK Set")
        .claims
}

async fn alice(setup: &Setup) -> User {
    user(setup, "alice", false).await
}

async fn code_grant_refresh_userinfo_and_revocation(db: TestDb) {
    let setup = Setup::start(&db).await;
    let client = public_client(&setup).await;
    let alice = alice(&setup).await;
    let scope = format!("openid email {API}");
    let code = approved_code(&setup, &client, &alice, &scope, Some(s256())).await;

    let answer = exchange_code(&setup, &client, &code).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
    let body = &answer.body;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(access.starts_with("mat_") && refresh_token.starts_with("mar_"));
    let scopes: Vec<&str> = body["scope"].as_str().unwrap().split(' ').collect();
    assert!(scopes.contains(&"openid") && scopes.contains(&"urn:matrix:client:api:*"));

    // The ID token: signed with a served key, for this client and user, with the nonce and
    // the access token's hash.
    let claims = verified_claims(&setup, body["id_token"].as_str().unwrap()).await;
    let s = &setup.server;
    assert_eq!(claims["iss"], format!("{}/", s.url));
    assert_eq!(claims["aud"], client.id.to_string());
    assert_eq!(claims["sub"], alice.id.to_string());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    let digest = sha2::Sha256::digest(access.as_bytes());
    let at_hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
    assert_eq!(claims["at_hash"], at_hash);
    assert!(claims["exp"].as_i64() > claims["iat"].as_i64());

    // Synapse sees the session; userinfo names the user.
    let seen = s.introspect(&access, true).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["username"], "alice");
    assert_eq!(seen["device_id"], "TOKENTESTS");
    let info: Value = s
        .http
        .get(s.at("/oauth2/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], alice.id.to_string());

    // Refresh: a new pair, no nonce in the new ID token, the old access token ends.
    let renewed = refresh(&setup, &client, &refresh_token).await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let access2 = renewed.body["access_token"].as_str().unwrap().to_owned();
    let refresh2 = renewed.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(access2, access);
    assert_ne!(refresh2, refresh_token);
    let claims = verified_claims(&setup, renewed.body["id_token"].as_str().unwrap()).await;
    assert!(claims.get("nonce").is_none(), "{claims:?}");
    assert_eq!(s.introspect(&access, true).await["active"], false);
    assert_eq!(s.introspect(&access2, true).await["active"], true);

    // Revocation by another client changes nothing (and still answers 200).
    let other = public_client(&setup).await;
    let other_id = other.id.to_string();
    let answer = post(
        &setup,
        "/oauth2/revoke",
        &[("token", &access2), ("client_id", &other_id)],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(s.introspect(&access2, true).await["active"], true);

    // Revoking the access token ends the session and its refresh token (MSC4254).
    let client_id = client.id.to_string();
    let answer = post(
        &setup,
        "/oauth2/revoke",
        &[
            ("token", &access2),
            ("token_type_hint", "access_token"),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(s.introspect(&access2, true).await["active"], false);
    assert_error(
        &refresh(&setup, &client, &refresh2).await,
        400,
        "invalid_grant",
    );
    // An unknown token is no error either (RFC 7009 §2.2).
    let answer = post(
        &setup,
        "/oauth2/revoke",
        &[("token", "mat_nothing"), ("client_id", &client_id)],
    )
    .await;
    assert_eq!(answer.status, 200);
    let status = s
        .http
        .get(s.at("/oauth2/userinfo"))
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    setup.server.stop().await;
}

async fn replays_and_downgrades_are_refused(db: TestDb) {
    let setup = Setup::start(&db).await;
    let client = public_client(&setup).await;
    let alice = alice(&setup).await;

    // A replayed code: refused, and the session the first exchange started ends.
    let code = approved_code(&setup, &client, &alice, API, Some(s256())).await;
    let first = exchange_code(&setup, &client, &code).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let access = first.body["access_token"].as_str().unwrap().to_owned();
    assert_error(
        &exchange_code(&setup, &client, &code).await,
        400,
        "invalid_grant",
    );
    assert_eq!(
        setup.server.introspect(&access, true).await["active"],
        false
    );

    // A replayed refresh token after its successor was used ends the session.
    let code = approved_code(&setup, &client, &alice, API, Some(s256())).await;
    let tokens = exchange_code(&setup, &client, &code).await.body;
    let old = tokens["refresh_token"].as_str().unwrap().to_owned();
    let next = refresh(&setup, &client, &old).await.body;
    let next_access = next["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        setup.server.introspect(&next_access, true).await["active"],
        true
    );
    // The successor's first use is written by the activity flusher.
    let s = &setup.server;
    s.state.activity.flush(&s.store).await.unwrap();
    assert_error(&refresh(&setup, &client, &old).await, 400, "invalid_grant");
    assert_eq!(
        setup.server.introspect(&next_access, true).await["active"],
        false
    );

    // PKCE: a wrong verifier, and a verifier for a request that had no challenge (downgrade).
    let client_id = client.id.to_string();
    let code = approved_code(&setup, &client, &alice, API, Some(s256())).await;
    let wrong = post(
        &setup,
        "/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier-x",
            ),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_error(&wrong, 400, "invalid_grant");

    let confidential = secret_client(&setup).await;
    let code = approved_code(&setup, &confidential, &alice, API, None).await;
    let id = confidential.id.to_string();
    let downgrade = post_with(
        &setup,
        "/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        Some((&id, SECRET)),
    )
    .await;
    assert_error(&downgrade, 400, "invalid_grant");

    // Another redirect URI than the request's.
    let code = approved_code(&setup, &client, &alice, API, Some(s256())).await;
    let elsewhere = post(
        &setup,
        "/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://client.example/other"),
            ("code_verifier", VERIFIER),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_error(&elsewhere, 400, "invalid_grant");

    // Another client's code.
    let other = public_client(&setup).await;
    let stolen = exchange_code(&setup, &other, &code).await;
    assert_error(&stolen, 400, "invalid_grant");
    // ...which the real client can still use.
    assert_eq!(exchange_code(&setup, &client, &code).await.status, 200);

    // An expired code (codes live 10 minutes).
    let code = approved_code(&setup, &client, &alice, API, Some(s256())).await;
    setup.server.clock.advance(Duration::minutes(11));
    assert_error(
        &exchange_code(&setup, &client, &code).await,
        400,
        "invalid_grant",
    );

    // Scope escalation on refresh.
    let code = approved_code(&setup, &client, &alice, API, Some(s256())).await;
    let tokens = exchange_code(&setup, &client, &code).await.body;
    let widen = post(
        &setup,
        "/oauth2/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("scope", &format!("{API} urn:synapse:admin:*")),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_error(&widen, 400, "invalid_scope");
    setup.server.stop().await;
}

async fn secret_client(setup: &Setup) -> OAuth2Client {
    let client = add_client(
        setup,
        TokenEndpointAuthMethod::ClientSecretBasic,
        &[
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ],
    )
    .await;
    let client = OAuth2Client {
        encrypted_client_secret: Some(
            setup
                .server
                .state
                .encrypter
                .encrypt_str(SECRET)
                .expect("encrypt"),
        ),
        ..client
    };
    let mut repo = setup.server.store.repo().await.unwrap();
    repo.oauth2_clients().upsert(&client).await.unwrap();
    repo.save().await.unwrap();
    client
}

async fn malformed_requests_and_client_authentication(db: TestDb) {
    let setup = Setup::start(&db).await;
    let confidential = secret_client(&setup).await;
    let id = confidential.id.to_string();
    let grant = [("grant_type", "client_credentials")];

    assert_error(
        &post(&setup, "/oauth2/token", &[]).await,
        400,
        "invalid_request",
    );
    assert_error(
        &post_with(
            &setup,
            "/oauth2/token",
            &[("grant_type", "password")],
            Some((&id, SECRET)),
        )
        .await,
        400,
        "unsupported_grant_type",
    );
    // A wrong secret, an unknown client, and no authentication at all.
    assert_error(
        &post_with(&setup, "/oauth2/token", &grant, Some((&id, "wrong"))).await,
        401,
        "invalid_client",
    );
    assert_error(
        &post_with(
            &setup,
            "/oauth2/token",
            &grant,
            Some(("01JA8ZQ3XK5W7N2M4P6R9T1V3Y", SECRET)),
        )
        .await,
        401,
        "invalid_client",
    );
    assert_error(
        &post(&setup, "/oauth2/token", &grant).await,
        401,
        "invalid_client",
    );
    // A confidential client naming itself without its secret.
    assert_error(
        &post(
            &setup,
            "/oauth2/token",
            &[("grant_type", "client_credentials"), ("client_id", &id)],
        )
        .await,
        401,
        "invalid_client",
    );
    // A code grant without its code; a malformed scope.
    assert_error(
        &post_with(
            &setup,
            "/oauth2/token",
            &[("grant_type", "authorization_code")],
            Some((&id, SECRET)),
        )
        .await,
        400,
        "invalid_request",
    );
    assert_error(
        &post_with(
            &setup,
            "/oauth2/token",
            &[("grant_type", "client_credentials"), ("scope", "a\\b")],
            Some((&id, SECRET)),
        )
        .await,
        400,
        "invalid_scope",
    );
    // Hostile sizes: a huge grant type is answered, not echoed whole.
    let huge = "x".repeat(10_000);
    let answer = post_with(
        &setup,
        "/oauth2/token",
        &[("grant_type", &huge)],
        Some((&id, SECRET)),
    )
    .await;
    assert_error(&answer, 400, "unsupported_grant_type");
    assert!(answer.body.to_string().len() < 500);

    // A public client may not use client credentials.
    let public = public_client(&setup).await;
    let public_id = public.id.to_string();
    assert_error(
        &post(
            &setup,
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &public_id),
            ],
        )
        .await,
        400,
        "unauthorized_client",
    );
    setup.server.stop().await;
}

async fn client_credentials_and_admin_clients(db: TestDb) {
    let admin_id = "01JA8ZQ3XK5W7N2M4P6R9T1V3Y";
    let setup = Setup::start_with(&db, |config| {
        config.policy =
            serde_yaml_ng::from_str(&format!("data:\n  admin_clients: [{admin_id}]\n")).unwrap();
    })
    .await;
    let plain = secret_client(&setup).await;
    let plain_id = plain.id.to_string();
    let answer = post_with(
        &setup,
        "/oauth2/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "urn:mas:admin"),
        ],
        Some((&plain_id, SECRET)),
    )
    .await;
    assert_error(&answer, 400, "invalid_scope");
    let answer = post_with(
        &setup,
        "/oauth2/token",
        &[("grant_type", "client_credentials")],
        Some((&plain_id, SECRET)),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.get("refresh_token").is_none());
    assert!(answer.body.get("id_token").is_none());

    // The client named in policy.data.admin_clients gets the admin API.
    let admin = OAuth2Client {
        id: admin_id.parse().unwrap(),
        ..plain.clone()
    };
    let mut repo = setup.server.store.repo().await.unwrap();
    repo.oauth2_clients().upsert(&admin).await.unwrap();
    repo.save().await.unwrap();
    let answer = post_with(
        &setup,
        "/oauth2/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "urn:mas:admin"),
        ],
        Some((admin_id, SECRET)),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let token = answer.body["access_token"].as_str().unwrap();
    let s = &setup.server;
    let status = s
        .http
        .get(s.at("/api/admin/v1/users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // Userinfo has no user to describe for a client's own token.
    let status = s
        .http
        .get(s.at("/oauth2/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    setup.server.stop().await;
}

async fn device_code_grant_over_http(db: TestDb) {
    let setup = Setup::start(&db).await;
    let client = public_client(&setup).await;
    let alice = alice(&setup).await;
    let s = &setup.server;
    let (grant, device_code) = oauth2_sessions::start_device_authorization(
        &s.store,
        &s.clock,
        &mut s.state.random.rng(),
        &client,
        gatehouse::domain::scopes::Scope::parse(API).unwrap(),
        None,
        None,
    )
    .await
    .unwrap();
    let client_id = client.id.to_string();
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code.as_str()),
        ("client_id", client_id.as_str()),
    ];
    let poll = || post(&setup, "/oauth2/token", &form);
    assert_error(&poll().await, 400, "authorization_pending");
    s.clock.advance(Duration::seconds(6));
    oauth2_sessions::answer_device(&s.store, &s.clock, grant.id, &alice, None, true)
        .await
        .unwrap();
    let answer = poll().await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let access = answer.body["access_token"].as_str().unwrap();
    assert_eq!(s.introspect(access, true).await["username"], "alice");
    s.clock.advance(Duration::seconds(6));
    assert_error(&poll().await, 400, "invalid_grant");
    setup.server.stop().await;
}

async fn userinfo_refuses_what_is_not_an_openid_token(db: TestDb) {
    let setup = Setup::start(&db).await;
    let client = public_client(&setup).await;
    let alice = alice(&setup).await;
    let code = approved_code(&setup, &client, &alice, API, Some(s256())).await;
    let tokens = exchange_code(&setup, &client, &code).await.body;
    assert!(
        tokens.get("id_token").is_none(),
        "no openid scope, no ID token"
    );
    let s = &setup.server;
    let no_openid = s
        .http
        .post(s.at("/oauth2/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(no_openid.status(), 403);
    let challenge = no_openid.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    for bad in ["", "mat_unknown", "mct_unknown", "not a token"] {
        let answer = s
            .http
            .get(s.at("/oauth2/userinfo"))
            .header("authorization", format!("Bearer {bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{bad}");
    }
    setup.server.stop().await;
}

on_both_backends!(
    code_grant_refresh_userinfo_and_revocation,
    replays_and_downgrades_are_refused,
    malformed_requests_and_client_authentication,
    client_credentials_and_admin_clients,
    device_code_grant_over_http,
    userinfo_refuses_what_is_not_an_openid_token,
);

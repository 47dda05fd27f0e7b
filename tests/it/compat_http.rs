//! The Matrix compat layer, introspection and discovery over HTTP against an in-process server,
//! on both backends. (The same flows against a real Synapse are in `synapse_e2e`.)

use chrono::Duration;
use gatehouse::{
    crypto::passwords::{PasswordAlgorithm, PasswordHasher, PasswordScheme},
    domain::Clock,
    services::accounts::{self, Registration},
};
use serde_json::json;

use crate::{common::TestDb, harness::TestServer, on_both_backends};

const PASSWORD: &str = "correct horse battery staple";

async fn register(server: &TestServer, username: &str) {
    server.register_user(username, PASSWORD).await;
}

async fn login(server: &TestServer, body: serde_json::Value) -> (u16, serde_json::Value) {
    server.post_json("/_matrix/client/v3/login", body).await
}

fn password_login(user: &str, password: &str) -> serde_json::Value {
    json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password})
}

async fn password_login_introspection_and_logout(db: TestDb) {
    let server = TestServer::start(&db).await;
    register(&server, "alice").await;

    let flows: serde_json::Value = server
        .http
        .get(server.at("/_matrix/client/r0/login"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let types: Vec<&str> = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["m.login.password", "m.login.sso", "m.login.token"]);
    assert_eq!(flows["flows"][1]["oauth_aware_preferred"], true);

    let (status, body) = login(
        &server,
        json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "@alice:example.test"},
               "password": PASSWORD, "device_id": "PHONE", "initial_device_display_name": "Alice's phone"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "@alice:example.test");
    assert_eq!(body["device_id"], "PHONE");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("mct_"));
    assert!(body.get("refresh_token").is_none());

    // Introspection as Synapse does it.
    let answer = server.introspect(&token, true).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["username"], "alice");
    assert_eq!(answer["device_id"], "PHONE");
    assert_eq!(answer["client_id"], "legacy");
    let scope = answer["scope"].as_str().unwrap();
    assert!(
        scope.contains("urn:matrix:client:api:*")
            && scope.contains("urn:matrix:org.matrix.msc2967.client:api:*"),
        "{scope}"
    );
    assert!(!scope.contains("urn:synapse:admin:*"));
    assert!(
        answer.get("expires_in").is_none(),
        "compat tokens without refresh never expire"
    );
    // Without the device header, the device is a scope.
    let answer = server.introspect(&token, false).await;
    assert!(answer.get("device_id").is_none());
    assert!(
        answer["scope"]
            .as_str()
            .unwrap()
            .contains("urn:matrix:client:device:PHONE")
    );

    // The legacy top-level `user` field works too; the same device ID replaces the session.
    let (status, again) = login(&server, json!({"type": "m.login.password", "user": "alice", "password": PASSWORD, "device_id": "PHONE"})).await;
    assert_eq!(status, 200);
    assert_eq!(
        server.introspect(&token, true).await,
        json!({"active": false}),
        "old token of the replaced device"
    );
    let token = again["access_token"].as_str().unwrap().to_owned();

    // Wrong callers are refused; garbage tokens are inactive, not errors.
    let unauthenticated = server
        .http
        .post(server.at("/oauth2/introspect"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let wrong = server
        .http
        .post(server.at("/oauth2/introspect"))
        .bearer_auth("nope")
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // RFC 6749 §5.2: a challenge with the 401, and error answers are never cached.
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    assert_eq!(wrong.headers()["cache-control"], "no-store");
    assert_eq!(wrong.headers()["pragma"], "no-cache");
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    for garbage in [
        "",
        "mct_short",
        "syt_bm9ib2R5_xxxxxxxxxxxxxxxxxxxx_000000",
        "mar_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_000000",
    ] {
        assert_eq!(
            server.introspect(garbage, true).await,
            json!({"active": false}),
            "{garbage}"
        );
    }

    // Logout ends the token at once.
    let response = server
        .http
        .post(server.at("/_matrix/client/v3/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        server.introspect(&token, true).await,
        json!({"active": false})
    );
    let response = server
        .http
        .post(server.at("/_matrix/client/v3/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], "M_UNKNOWN_TOKEN");
    let response = server
        .http
        .post(server.at("/_matrix/client/v3/logout"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], "M_MISSING_TOKEN");
    assert!(server.run_jobs().await >= 1, "logout queued a device sync");
    server.stop().await;
}

async fn refresh_rotates_and_old_tokens_stop_working(db: TestDb) {
    let server = TestServer::start(&db).await;
    register(&server, "bob").await;
    let mut body = password_login("bob", PASSWORD);
    body["refresh_token"] = json!(true);
    let (status, first) = login(&server, body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["expires_in_ms"], 300_000);
    let access1 = first["access_token"].as_str().unwrap().to_owned();
    let refresh1 = first["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh1.starts_with("mcr_"));
    let answer = server.introspect(&access1, true).await;
    assert_eq!(answer["expires_in"], 300);

    let (status, second) = server
        .post_json(
            "/_matrix/client/v3/refresh",
            json!({"refresh_token": refresh1}),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    let access2 = second["access_token"].as_str().unwrap().to_owned();
    assert_ne!(access1, access2);
    assert_eq!(
        server.introspect(&access1, true).await,
        json!({"active": false})
    );
    assert_eq!(server.introspect(&access2, true).await["active"], true);

    // Refreshable access tokens expire; the new pair keeps working.
    server.clock.advance(Duration::seconds(301));
    assert_eq!(
        server.introspect(&access2, true).await,
        json!({"active": false})
    );
    let (status, third) = server
        .post_json(
            "/_matrix/client/v3/refresh",
            json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 200);
    let access3 = third["access_token"].as_str().unwrap().to_owned();
    assert_eq!(server.introspect(&access3, true).await["active"], true);

    // Replaying a used refresh token fails and, as RFC 9700 §4.14 asks, ends the session:
    // the newest pair stops working too.
    let (status, replay) = server
        .post_json(
            "/_matrix/client/v3/refresh",
            json!({"refresh_token": refresh1}),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(replay["errcode"], "M_UNKNOWN_TOKEN");
    assert_eq!(
        server.introspect(&access3, true).await,
        json!({"active": false})
    );
    let (status, _) = server
        .post_json(
            "/_matrix/client/v3/refresh",
            json!({"refresh_token": third["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 401);
    server.stop().await;
}

async fn bad_input_gets_matrix_errors_never_500(db: TestDb) {
    let server = TestServer::start_with(&db, |config| {
        config.http.max_body_size = 4096;
    })
    .await;
    register(&server, "carol").await;
    let url = server.at("/_matrix/client/v3/login");
    let send = |body: &'static str| {
        server
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let response = send("{not json").await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["errcode"],
        "M_NOT_JSON"
    );
    for body in [
        r#"{"type": 5}"#,
        r#"[1,2]"#,
        r#"{"type":"m.login.password","identifier":{"type":"m.id.user","user":7},"password":"x"}"#,
        r#"{"type":"m.login.password","password":"x"}"#,
    ] {
        let response = send(body).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(
            response.json::<serde_json::Value>().await.unwrap()["errcode"],
            "M_BAD_JSON",
            "{body}"
        );
    }
    let (status, body) = login(&server, json!({"type": "m.login.fancy"})).await;
    assert_eq!((status, body["errcode"].as_str()), (400, Some("M_UNKNOWN")));
    let (status, body) = login(&server, json!({"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": "x"}})).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_APPSERVICE_LOGIN_UNSUPPORTED"))
    );
    let (status, body) = login(&server, json!({"type": "m.login.password", "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "a@b"}, "password": "x"})).await;
    assert_eq!((status, body["errcode"].as_str()), (400, Some("M_UNKNOWN")));

    // Wrong password and unknown user: the same answer.
    let (status_wrong, wrong) = login(&server, password_login("carol", "nope")).await;
    let (status_unknown, unknown) = login(&server, password_login("nobody", "nope")).await;
    assert_eq!((status_wrong, status_unknown), (403, 403));
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["errcode"], "M_FORBIDDEN");

    // A huge body is 413, declared or chunked.
    let huge = "x".repeat(10_000);
    let response = server
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["errcode"],
        "M_TOO_LARGE"
    );
    assert_eq!(
        chunked_post_status(&server.url, "/_matrix/client/v3/login", &huge).await,
        413
    );

    // Locked and deactivated users, after the right password.
    accounts::lock_user(
        &server.store,
        &server.clock,
        accounts::find_user(&server.store, "carol")
            .await
            .unwrap()
            .id,
        false,
    )
    .await
    .unwrap();
    let (status, body) = login(&server, password_login("carol", PASSWORD)).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_USER_LOCKED"))
    );
    accounts::unlock_user(
        &server.store,
        &server.clock,
        accounts::find_user(&server.store, "carol")
            .await
            .unwrap()
            .id,
        false,
    )
    .await
    .unwrap();
    accounts::lock_user(
        &server.store,
        &server.clock,
        accounts::find_user(&server.store, "carol")
            .await
            .unwrap()
            .id,
        true,
    )
    .await
    .unwrap();
    accounts::unlock_user(
        &server.store,
        &server.clock,
        accounts::find_user(&server.store, "carol")
            .await
            .unwrap()
            .id,
        false,
    )
    .await
    .unwrap();
    let (status, body) = login(&server, password_login("carol", PASSWORD)).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_USER_DEACTIVATED"))
    );
    server.stop().await;
}

/// POST a body with `Transfer-Encoding: chunked` (no Content-Length) over a raw connection;
/// returns the response status.
async fn chunked_post_status(base: &str, path: &str, body: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    );
    for chunk in body.as_bytes().chunks(1000) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            String::from_utf8_lossy(chunk)
        ));
    }
    request.push_str("0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn a_flood_of_wrong_passwords_is_rate_limited(db: TestDb) {
    let server = TestServer::start_with(&db, |config| {
        config.rate_limiting.login.per_ip.burst = 3;
        config.rate_limiting.login.per_ip.per_second = 0.05;
    })
    .await;
    register(&server, "dave").await;
    let mut limited = None;
    for _ in 0..6 {
        let (status, body) = login(&server, password_login("dave", "wrong")).await;
        if status == 429 {
            limited = Some(body);
            break;
        }
        assert_eq!(status, 403);
    }
    let body = limited.expect("rate limited within 6 attempts");
    assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
    assert!(body["retry_after_ms"].as_u64().unwrap() > 1000);
    server.stop().await;
}

async fn locked_user_tokens_become_inactive(db: TestDb) {
    let server = TestServer::start(&db).await;
    register(&server, "erin").await;
    let (_, body) = login(&server, password_login("erin", PASSWORD)).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(server.introspect(&token, true).await["active"], true);
    accounts::lock_user(
        &server.store,
        &server.clock,
        accounts::find_user(&server.store, "erin").await.unwrap().id,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        server.introspect(&token, true).await,
        json!({"active": false})
    );
    accounts::unlock_user(
        &server.store,
        &server.clock,
        accounts::find_user(&server.store, "erin").await.unwrap().id,
        false,
    )
    .await
    .unwrap();
    assert_eq!(server.introspect(&token, true).await["active"], true);
    // Synapse admin rights come from the session (for a user who may have them).
    accounts::set_admin(
        &server.store,
        accounts::find_user(&server.store, "erin").await.unwrap().id,
        true,
    )
    .await
    .unwrap();
    let issued = accounts::issue_compat_token(
        &server.store,
        &server.clock,
        &mut gatehouse::domain::RandomSource::System.rng(),
        accounts::find_user(&server.store, "erin").await.unwrap().id,
        None,
        true,
    )
    .await
    .unwrap();
    let answer = server.introspect(&issued.access_token, true).await;
    assert!(
        answer["scope"]
            .as_str()
            .unwrap()
            .contains("urn:synapse:admin:*")
    );
    server.stop().await;
}

async fn synapse_bcrypt_password_is_upgraded_on_compat_login(db: TestDb) {
    let server = TestServer::start(&db).await;
    // The user's hash was made under v1 only (as after a migration from Synapse).
    let v1_only = PasswordHasher::new(
        vec![PasswordScheme {
            version: 1,
            algorithm: PasswordAlgorithm::Bcrypt { cost: 4 },
            pepper: Some(b"pepper".to_vec()),
            unicode_normalization: true,
        }],
        0,
    )
    .unwrap();
    let user = accounts::register_user(
        &server.store,
        &server.clock,
        &v1_only,
        Registration {
            username: "frank".into(),
            password: Some(PASSWORD.into()),
            ..Registration::default()
        },
    )
    .await
    .unwrap();
    let (status, _) = login(&server, password_login("frank", PASSWORD)).await;
    assert_eq!(status, 200);
    let mut reader = server.store.reader().await.unwrap();
    let current = reader.passwords().active(user.id).await.unwrap().unwrap();
    assert_eq!(current.version, 2);
    assert!(current.hashed_password.starts_with("$argon2id$"));
    assert!(current.upgraded_from_id.is_some());
    drop(reader);
    let (status, _) = login(&server, password_login("frank", PASSWORD)).await;
    assert_eq!(status, 200, "the upgraded hash verifies");
    server.stop().await;
}

async fn discovery_and_keys(db: TestDb) {
    let server = TestServer::start(&db).await;
    let doc: serde_json::Value = server
        .http
        .get(server.at("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], format!("{}/", server.url));
    assert_eq!(
        doc["account_management_uri"],
        format!("{}/account/", server.url)
    );
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{}/oauth2/introspect", server.url)
    );
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("device_authorization_endpoint", "/oauth2/device"),
        ("revocation_endpoint", "/oauth2/revoke"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("registration_endpoint", "/oauth2/registration"),
        ("jwks_uri", "/oauth2/keys.json"),
    ] {
        assert_eq!(doc[field], format!("{}{path}", server.url), "{field}");
    }
    let grants = doc["grant_types_supported"].as_array().unwrap();
    for grant in [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        assert!(grants.contains(&serde_json::json!(grant)), "{grant}");
    }
    assert_eq!(
        doc["response_types_supported"],
        serde_json::json!(["code", "code id_token"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    let prompts = doc["prompt_values_supported"].as_array().unwrap();
    assert!(
        prompts.contains(&serde_json::json!("login"))
            && !prompts.contains(&serde_json::json!("create"))
    );
    let modes = doc["response_modes_supported"].as_array().unwrap();
    assert!(
        modes.contains(&serde_json::json!("query"))
            && modes.contains(&serde_json::json!("fragment"))
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let jwks: serde_json::Value = server
        .http
        .get(server.at("/oauth2/keys.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(keys.iter().any(|k| k["kty"] == "RSA") && keys.iter().any(|k| k["kty"] == "EC"));
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private parts"
    );
    let _ = server.clock.now();
    server.stop().await;
}

/// Another process (a `gatehouse manage` command, another replica) has its own store handle:
/// its locks and logouts reach this server's introspection cache through the database, within
/// about a second, however long the cache TTL.
async fn changes_by_another_process_reach_the_token_cache(db: TestDb) {
    let server = TestServer::start_with(&db, |config| {
        config.experimental.introspection_cache_ttl = 3600;
    })
    .await;
    register(&server, "fay").await;
    let (_, body) = login(&server, password_login("fay", PASSWORD)).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(server.introspect(&token, true).await["active"], true);

    let other_process = db.store().await;
    accounts::lock_user(
        &other_process,
        &server.clock,
        accounts::find_user(&other_process, "fay").await.unwrap().id,
        false,
    )
    .await
    .unwrap();
    let seen_within = until_inactive(&server, &token).await;
    assert!(
        seen_within < std::time::Duration::from_secs(5),
        "the lock reached the cache after {seen_within:?}"
    );

    accounts::unlock_user(
        &other_process,
        &server.clock,
        accounts::find_user(&other_process, "fay").await.unwrap().id,
        false,
    )
    .await
    .unwrap();
    assert_eq!(server.introspect(&token, true).await["active"], true);
    // Sessions killed elsewhere too.
    accounts::kill_sessions(
        &other_process,
        &server.clock,
        accounts::find_user(&other_process, "fay").await.unwrap().id,
        false,
    )
    .await
    .unwrap();
    until_inactive(&server, &token).await;
    server.stop().await;
}

/// Introspect until the token is inactive; how long that took (fails after ten seconds).
async fn until_inactive(server: &TestServer, token: &str) -> std::time::Duration {
    let started = std::time::Instant::now();
    while server.introspect(token, true).await["active"] == true {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the token stayed active"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    started.elapsed()
}

on_both_backends!(
    password_login_introspection_and_logout,
    refresh_rotates_and_old_tokens_stop_working,
    bad_input_gets_matrix_errors_never_500,
    a_flood_of_wrong_passwords_is_rate_limited,
    locked_user_tokens_become_inactive,
    changes_by_another_process_reach_the_token_cache,
    synapse_bcrypt_password_is_upgraded_on_compat_login,
    discovery_and_keys,
);

//! `POST /oauth2/registration` (RFC 7591): what Matrix clients register is accepted and reused,
//! confidential clients get a working secret, and hostile registrations are refused without
//! leaving a row.

use base64::Engine;
use gatehouse::store::oauth2_clients::OAuth2ClientFilter;
use serde_json::{Value, json};

use crate::{common::TestDb, harness::TestServer, on_both_backends};

/// What matrix-rust-sdk (Element X) registers, per its source and the wire.
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

async fn client_count(server: &TestServer) -> u64 {
    server
        .store
        .reader()
        .await
        .unwrap()
        .oauth2_clients()
        .count(&OAuth2ClientFilter::default())
        .await
        .unwrap()
}

async fn matrix_clients_register_and_are_reused(db: TestDb) {
    let server = TestServer::start(&db).await;
    let metadata: Value = server
        .http
        .get(server.at("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["registration_endpoint"],
        server.at("/oauth2/registration")
    );

    let (status, first) = server.post_json("/oauth2/registration", element_x()).await;
    assert_eq!(status, 201, "{first}");
    let client_id = first["client_id"].as_str().unwrap().to_owned();
    assert!(
        first.get("client_secret").is_none(),
        "a public client has no secret"
    );
    assert_eq!(first["token_endpoint_auth_method"], "none");
    assert_eq!(first["application_type"], "native");
    assert_eq!(first["client_name#fr"], "Élément X");
    assert_eq!(first["redirect_uris"], json!(["http://127.0.0.1/callback"]));

    let stored = server
        .store
        .reader()
        .await
        .unwrap()
        .oauth2_clients()
        .find(client_id.parse().unwrap())
        .await
        .unwrap()
        .expect("stored");
    assert!(!stored.is_static);
    assert_eq!(stored.client_name.as_deref(), Some("Element X"));
    assert_eq!(stored.metadata.localized["client_name#fr"], "Élément X");

    // The same registration again (Element X registers at every sign-in): the same client.
    let (status, again) = server.post_json("/oauth2/registration", element_x()).await;
    assert_eq!(status, 201);
    assert_eq!(again["client_id"], client_id.as_str());
    let mut other = element_x();
    other["client_name"] = json!("Element X Nightly");
    let (status, different) = server.post_json("/oauth2/registration", other).await;
    assert_eq!(status, 201);
    assert_ne!(different["client_id"], client_id.as_str());
    assert_eq!(client_count(&server).await, 2);
    server.stop().await;
}

async fn confidential_clients_get_a_working_secret(db: TestDb) {
    let server = TestServer::start(&db).await;
    let request = json!({
        "redirect_uris": ["https://app.example.org/callback"],
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "client_uri": "https://example.org/",
        "logo_uri": "https://cdn.example.org/logo.png",
        "contacts": ["admin@example.org"],
    });
    let response = server
        .http
        .post(server.at("/oauth2/registration"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let registered: Value = response.json().await.unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let secret = registered["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 40);
    assert_eq!(registered["client_secret_expires_at"], 0);
    assert_eq!(registered["logo_uri"], "https://cdn.example.org/logo.png");

    // A second identical registration is a new client with a new secret: secrets are not
    // handed out twice.
    let (_, second) = server.post_json("/oauth2/registration", request).await;
    assert_ne!(second["client_id"], client_id.as_str());
    assert_ne!(second["client_secret"], secret.as_str());

    // The secret authenticates the client (introspection accepts confidential clients).
    let introspect = |secret: String| {
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
        server
            .http
            .post(server.at("/oauth2/introspect"))
            .header("authorization", format!("Basic {credentials}"))
            .form(&[("token", "mat_not_a_token")])
            .send()
    };
    let answer = introspect(secret.clone()).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
    let answer = introspect(format!("{secret}x")).await.unwrap();
    assert_eq!(answer.status(), 401);
    server.stop().await;
}

async fn hostile_registrations_are_refused(db: TestDb) {
    // A small body limit, so the oversized request below fits in the socket buffers and its
    // 413 arrives instead of a reset connection.
    let server = TestServer::start_with(&db, |config| config.http.max_body_size = 4096).await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut request = element_x();
        change(&mut request);
        request
    };
    let cases: Vec<(Value, &str)> = vec![
        // A web client redirected off its own host, or anywhere scripts run.
        (
            json!({"redirect_uris": ["https://evil.example/steal"], "token_endpoint_auth_method": "none", "client_uri": "https://example.org/"}),
            "invalid_redirect_uri",
        ),
        (
            with(&|r| r["redirect_uris"] = json!(["javascript:alert(1)"])),
            "invalid_redirect_uri",
        ),
        (
            with(&|r| r["redirect_uris"] = json!(["http://127.0.0.1/cb#fragment"])),
            "invalid_redirect_uri",
        ),
        (
            with(&|r| r["redirect_uris"] = json!(["org.evil:/callback"])),
            "invalid_redirect_uri",
        ),
        // Another domain's logo, an insecure client_uri, a key set the server would fetch.
        (
            with(&|r| r["logo_uri"] = json!("https://evil.example/logo.png")),
            "invalid_client_metadata",
        ),
        (
            with(&|r| r["client_uri"] = json!("http://example.org/")),
            "invalid_client_metadata",
        ),
        (
            with(&|r| {
                r["token_endpoint_auth_method"] = json!("private_key_jwt");
                r["jwks_uri"] = json!("http://169.254.169.254/latest/meta-data");
            }),
            "invalid_client_metadata",
        ),
        // A public client asking for client_credentials; shapes that are not metadata.
        (
            with(&|r| r["grant_types"] = json!(["client_credentials"])),
            "invalid_client_metadata",
        ),
        (
            with(&|r| r["client_name"] = json!({"a": 1})),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ];
    for (request, error) in cases {
        let (status, answer) = server
            .post_json("/oauth2/registration", request.clone())
            .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(error)),
            "{request}"
        );
        assert!(answer["error_description"].is_string());
    }
    let response = server
        .http
        .post(server.at("/oauth2/registration"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );
    let huge = json!({"redirect_uris": ["http://127.0.0.1/cb"], "client_name": "x".repeat(8192)});
    let response = server
        .http
        .post(server.at("/oauth2/registration"))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(client_count(&server).await, 0, "nothing refused was stored");
    server.stop().await;
}

async fn policy_data_relaxes_registration(db: TestDb) {
    let local_dev = json!({
        "redirect_uris": ["http://localhost:3000/callback"],
        "token_endpoint_auth_method": "none",
        "client_uri": "http://localhost:3000/",
        "logo_uri": "https://cdn.example.net/logo.png",
    });
    let strict = TestServer::start(&db).await;
    let (status, _) = strict
        .post_json("/oauth2/registration", local_dev.clone())
        .await;
    assert_eq!(status, 400);
    strict.stop().await;

    let relaxed = TestServer::start_with(&db, |config| {
        config.policy = serde_yaml_ng::from_str(
            "data:\n  client_registration:\n    allow_insecure_uris: true\n    allow_host_mismatch: true\n",
        )
        .unwrap();
    })
    .await;
    let (status, answer) = relaxed.post_json("/oauth2/registration", local_dev).await;
    assert_eq!(status, 201, "{answer}");
    relaxed.stop().await;
}

async fn registration_is_rate_limited(db: TestDb) {
    let server = TestServer::start_with(&db, |config| {
        config.rate_limiting.client_registration.burst = 2;
        config.rate_limiting.client_registration.per_second = 0.001;
    })
    .await;
    for _ in 0..2 {
        let (status, _) = server.post_json("/oauth2/registration", element_x()).await;
        assert_eq!(status, 201);
    }
    let response = server
        .http
        .post(server.at("/oauth2/registration"))
        .json(&element_x())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    server.stop().await;
}

on_both_backends!(
    matrix_clients_register_and_are_reused,
    confidential_clients_get_a_working_secret,
    hostile_registrations_are_refused,
    policy_data_relaxes_registration,
    registration_is_rate_limited,
);

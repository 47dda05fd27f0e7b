//! Who gets in: only active tokens carrying `urn:mas:admin` of users who may request admin
//! scopes. Every refusal is a 401 with an errors body. Also: the spec and Swagger UI are served.

use gatehouse::{domain::Clock, services::accounts};
use poem::http::Method;

use super::{Admin, title};
use crate::{common::TestDb, on_both_backends};

async fn admin_api_refuses_every_kind_of_bad_token(db: TestDb) {
    let admin = Admin::new(db).await;
    let (status, _) = admin.get("/api/admin/v1/version").await;
    assert_eq!(status, 200);

    let refused = |status: u16, body: &serde_json::Value, what: &str| {
        assert_eq!(status, 401, "{what}: {body}");
        assert!(title(body).contains("access token"), "{what}: {body}");
    };
    let (status, body) = admin
        .call_as(None, Method::GET, "/api/admin/v1/users", None)
        .await;
    refused(status, &body, "no token");
    for bad in [
        "garbage",
        "mpt_0000000000000000000000000000_000000",
        "mct_abc",
    ] {
        let (status, body) = admin
            .call_as(Some(bad), Method::GET, "/api/admin/v1/users", None)
            .await;
        refused(status, &body, bad);
    }

    // A personal token without the admin scope.
    let user_token = admin
        .personal_token("root", &["urn:matrix:client:api:*"])
        .await;
    let (status, body) = admin
        .call_as(Some(&user_token), Method::GET, "/api/admin/v1/users", None)
        .await;
    refused(status, &body, "no urn:mas:admin");

    // A compat token never carries urn:mas:admin, not even a Synapse-admin one.
    let compat = accounts::issue_compat_token(
        admin.store(),
        &admin.clock,
        &mut gatehouse::domain::RandomSource::System.rng(),
        accounts::find_user(admin.store(), "root").await.unwrap().id,
        None,
        true,
    )
    .await
    .unwrap();
    let (status, body) = admin
        .call_as(
            Some(&compat.access_token),
            Method::GET,
            "/api/admin/v1/users",
            None,
        )
        .await;
    refused(status, &body, "compat token");

    // Expired.
    let expiring = accounts::issue_personal_token(
        admin.store(),
        &admin.clock,
        &mut gatehouse::domain::RandomSource::System.rng(),
        accounts::PersonalTokenRequest {
            actor_user_id: accounts::find_user(admin.store(), "root").await.unwrap().id,
            owner_user_id: None,
            human_name: "short".into(),
            scope: gatehouse::domain::scopes::Scope::parse("urn:mas:admin").unwrap(),
            expires_in: Some(chrono::Duration::seconds(60)),
        },
    )
    .await
    .unwrap();
    let (status, _) = admin
        .call_as(
            Some(&expiring.access_token),
            Method::GET,
            "/api/admin/v1/users",
            None,
        )
        .await;
    assert_eq!(status, 200);
    admin.clock.advance(chrono::Duration::seconds(61));
    let (status, body) = admin
        .call_as(
            Some(&expiring.access_token),
            Method::GET,
            "/api/admin/v1/users",
            None,
        )
        .await;
    refused(status, &body, "expired");

    // Revoked session.
    let revocable = accounts::issue_personal_token(
        admin.store(),
        &admin.clock,
        &mut gatehouse::domain::RandomSource::System.rng(),
        accounts::PersonalTokenRequest {
            actor_user_id: accounts::find_user(admin.store(), "root").await.unwrap().id,
            owner_user_id: None,
            human_name: "revocable".into(),
            scope: gatehouse::domain::scopes::Scope::parse("urn:mas:admin").unwrap(),
            expires_in: None,
        },
    )
    .await
    .unwrap();
    let as_revocable = || {
        admin.call_as(
            Some(&revocable.access_token),
            Method::GET,
            "/api/admin/v1/users",
            None,
        )
    };
    assert_eq!(as_revocable().await.0, 200);
    let mut repo = admin.store().repo().await.unwrap();
    let mut session = revocable.session.clone();
    repo.personal()
        .revoke_session(&mut session, admin.clock.now())
        .await
        .unwrap();
    repo.save().await.unwrap();
    let (status, body) = as_revocable().await;
    refused(status, &body, "revoked");

    // A second admin: demoted, then locked.
    admin.register("deputy", true).await;
    let deputy = admin.personal_token("deputy", &["urn:mas:admin"]).await;
    let as_deputy = || admin.call_as(Some(&deputy), Method::GET, "/api/admin/v1/users", None);
    assert_eq!(as_deputy().await.0, 200);
    accounts::set_admin(
        admin.store(),
        accounts::find_user(admin.store(), "deputy")
            .await
            .unwrap()
            .id,
        false,
    )
    .await
    .unwrap();
    let (status, body) = as_deputy().await;
    refused(status, &body, "demoted");
    accounts::set_admin(
        admin.store(),
        accounts::find_user(admin.store(), "deputy")
            .await
            .unwrap()
            .id,
        true,
    )
    .await
    .unwrap();
    accounts::lock_user(
        admin.store(),
        &admin.clock,
        accounts::find_user(admin.store(), "deputy")
            .await
            .unwrap()
            .id,
        false,
    )
    .await
    .unwrap();
    let (status, body) = as_deputy().await;
    refused(status, &body, "locked");

    // Admin scopes are only for users who may request them.
    admin.register("mallory", false).await;
    let refused_issue = accounts::issue_personal_token(
        admin.store(),
        &admin.clock,
        &mut gatehouse::domain::RandomSource::System.rng(),
        accounts::PersonalTokenRequest {
            actor_user_id: accounts::find_user(admin.store(), "mallory")
                .await
                .unwrap()
                .id,
            owner_user_id: None,
            human_name: "nope".into(),
            scope: gatehouse::domain::scopes::Scope::parse("urn:mas:admin").unwrap(),
            expires_in: None,
        },
    )
    .await;
    assert!(matches!(
        refused_issue,
        Err(accounts::AccountError::AdminScopeNotAllowed(_))
    ));
}

async fn admin_api_serves_its_spec_and_json_errors(db: TestDb) {
    let admin = Admin::new(db).await;
    let (status, spec) = admin
        .call_as(None, Method::GET, "/api/spec.json", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"], "3.0.0");
    assert_eq!(
        spec["paths"]["/users"]["get"]["operationId"],
        "listUsers",
        "{:?}",
        spec["paths"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>()
    );
    let (status, _) = admin.call_as(None, Method::GET, "/api/doc/", None).await;
    assert_eq!(status, 200);

    let (status, body) = admin.get("/api/admin/v1/no-such-thing").await;
    assert_eq!(status, 404);
    assert_eq!(title(&body), "Not found");
    let (status, body) = admin
        .call_as(
            Some(&admin.token.clone()),
            Method::DELETE,
            "/api/admin/v1/version",
            None,
        )
        .await;
    assert_eq!(status, 405, "{body}");
    assert!(body["errors"].is_array());

    let (status, config) = admin.get("/api/admin/v1/site-config").await;
    assert_eq!(status, 200);
    assert_eq!(config["server_name"], "example.org");
    assert_eq!(config["password_login_enabled"], true);
    let (status, version) = admin.get("/api/admin/v1/version").await;
    assert_eq!(status, 200);
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
}

/// Refusals made before a handler runs (poem-openapi's parse and content-type checks, the
/// token check) and by handlers answer the admin error body, with a status the spec documents
/// for that operation.
async fn refusals_answer_a_status_the_operation_documents(db: TestDb) {
    let admin = Admin::new(db).await;
    let spec: serde_json::Value =
        serde_json::from_str(&gatehouse::http::admin::spec_json()).expect("spec");
    let unknown = format!("/users/{}", "01JE43WTF01HEAD8X4A1JH69RE");
    let json = Some("application/json");
    // (the operation, the path and query under /api/admin/v1, content type, body, status)
    let cases: &[(&str, &str, Option<&str>, &str, u16)] = &[
        ("GET /users", "/users?page[first]=many", None, "", 400),
        (
            "GET /users",
            "/users?page[first]=1&page[last]=1",
            None,
            "",
            400,
        ),
        ("GET /users/{id}", "/users/not-a-ulid", None, "", 400),
        ("GET /users/{id}", &unknown, None, "", 404),
        ("POST /users", "/users", json, "{", 400),
        (
            "POST /users",
            "/users",
            json,
            r#"{"username":"Not Valid"}"#,
            422,
        ),
        ("POST /users", "/users", json, r#"{"username":"root"}"#, 409),
        ("POST /users", "/users", Some("text/plain"), "alice", 415),
        ("POST /users/import", "/users/import", json, "{}", 415),
        ("POST /users/import", "/users/import", None, "", 415),
    ];
    for (operation, uri, content_type, body, expected) in cases {
        let what = format!("{operation}: {uri} ({content_type:?} {body:?})");
        let (method_name, path) = operation.split_once(' ').expect("METHOD /path");
        let method = Method::from_bytes(method_name.as_bytes()).expect("method");
        let (status, _, text) = admin
            .call_raw(method, &format!("/api/admin/v1{uri}"), *content_type, body)
            .await;
        assert_eq!(status, *expected, "{what}: {text}");
        let body: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
        assert!(!title(&body).is_empty(), "{what}: {body}");
        let responses = &spec["paths"][path][method_name.to_ascii_lowercase()]["responses"];
        assert!(
            responses.get(status.to_string()).is_some(),
            "{what}: {status} is not documented for {operation}"
        );
    }
    let (status, body) = admin
        .call_as(None, Method::GET, "/api/admin/v1/version", None)
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(title(&body).contains("access token"), "{body}");
    assert!(spec["paths"]["/version"]["get"]["responses"]["401"].is_object());
}

on_both_backends!(
    admin_api_refuses_every_kind_of_bad_token,
    admin_api_serves_its_spec_and_json_errors,
    refusals_answer_a_status_the_operation_documents
);

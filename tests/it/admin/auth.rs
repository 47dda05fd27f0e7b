//! Who gets in: only active tokens carrying `urn:mas:admin` of users who may request admin
//! scopes. Every refusal is a 401 with an errors body. Also: the spec and Swagger UI are served.

use gatehouse::{accounts, domain::Clock};
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
        &mut rand::rngs::OsRng,
        "root",
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
        &mut rand::rngs::OsRng,
        accounts::PersonalTokenRequest {
            actor_username: "root".into(),
            owner_user_id: None,
            human_name: "short".into(),
            scopes: vec!["urn:mas:admin".into()],
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
        &mut rand::rngs::OsRng,
        accounts::PersonalTokenRequest {
            actor_username: "root".into(),
            owner_user_id: None,
            human_name: "revocable".into(),
            scopes: vec!["urn:mas:admin".into()],
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
    accounts::set_admin(admin.store(), "deputy", false)
        .await
        .unwrap();
    let (status, body) = as_deputy().await;
    refused(status, &body, "demoted");
    accounts::set_admin(admin.store(), "deputy", true)
        .await
        .unwrap();
    accounts::lock_user(admin.store(), &admin.clock, "deputy", false)
        .await
        .unwrap();
    let (status, body) = as_deputy().await;
    refused(status, &body, "locked");

    // Admin scopes are only for users who may request them.
    admin.register("mallory", false).await;
    let refused_issue = accounts::issue_personal_token(
        admin.store(),
        &admin.clock,
        &mut rand::rngs::OsRng,
        accounts::PersonalTokenRequest {
            actor_username: "mallory".into(),
            owner_user_id: None,
            human_name: "nope".into(),
            scopes: vec!["urn:mas:admin".into()],
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

on_both_backends!(
    admin_api_refuses_every_kind_of_bad_token,
    admin_api_serves_its_spec_and_json_errors
);

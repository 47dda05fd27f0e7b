//! `/user-emails` and `/compat-sessions`: shapes, filters, add/delete, finish, and their errors.

use gatehouse::services::accounts;
use serde_json::json;

use super::{Admin, title};
use crate::{common::TestDb, on_both_backends};

async fn user_emails_add_list_get_delete(db: TestDb) {
    let admin = Admin::new(db).await;
    let alice = admin.register("alice", false).await;
    let bob = admin.register("bob", false).await;

    let (status, added) = admin
        .post(
            "/api/admin/v1/user-emails",
            json!({"user_id": alice.id.to_string(), "email": "Alice@Example.org"}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["data"]["type"], "user-email");
    assert_eq!(added["data"]["attributes"]["email"], "Alice@Example.org");
    assert_eq!(added["data"]["attributes"]["user_id"], alice.id.to_string());
    let id = added["data"]["id"].as_str().unwrap().to_owned();
    accounts::add_email(
        admin.store(),
        &admin.clock,
        accounts::find_user(admin.store(), "bob").await.unwrap().id,
        "bob@example.org",
    )
    .await
    .unwrap();

    // Errors: duplicate, invalid, unknown user, malformed body.
    let (status, body) = admin
        .post(
            "/api/admin/v1/user-emails",
            json!({"user_id": alice.id.to_string(), "email": "alice@example.org"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = admin
        .post(
            "/api/admin/v1/user-emails",
            json!({"user_id": alice.id.to_string(), "email": "not-an-address"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = admin
        .post(
            "/api/admin/v1/user-emails",
            json!({"user_id": ulid::Ulid::new().to_string(), "email": "x@example.org"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = admin
        .post(
            "/api/admin/v1/user-emails",
            json!({"email": "x@example.org"}),
        )
        .await;
    assert_eq!(status, 400);

    // List and filters.
    let (status, list) = admin.get("/api/admin/v1/user-emails").await;
    assert_eq!(status, 200);
    assert_eq!(list["meta"]["count"], 2);
    let (_, list) = admin
        .get(&format!(
            "/api/admin/v1/user-emails?filter[user]={}",
            bob.id
        ))
        .await;
    assert_eq!(list["meta"]["count"], 1);
    assert_eq!(list["data"][0]["attributes"]["email"], "bob@example.org");
    let (_, list) = admin
        .get("/api/admin/v1/user-emails?filter[email]=ALICE@example.ORG")
        .await;
    assert_eq!(list["data"][0]["id"], id.as_str());

    // Get, delete, then 404s.
    let path = format!("/api/admin/v1/user-emails/{id}");
    let (status, got) = admin.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(got["links"]["self"], path);
    let (status, _) = admin.delete(&path).await;
    assert_eq!(status, 204);
    let (status, body) = admin.get(&path).await;
    assert_eq!(status, 404);
    assert!(title(&body).contains("not found"));
    let (status, _) = admin.delete(&path).await;
    assert_eq!(status, 404);
}

async fn compat_sessions_list_get_finish(db: TestDb) {
    let admin = Admin::new(db).await;
    let alice = admin.register("alice", false).await;
    admin.register("bob", false).await;
    let mut rng = rand::rngs::OsRng;
    let first = accounts::issue_compat_token(
        admin.store(),
        &admin.clock,
        &mut rng,
        accounts::find_user(admin.store(), "alice")
            .await
            .unwrap()
            .id,
        Some("PHONE".into()),
        false,
    )
    .await
    .unwrap();
    accounts::issue_compat_token(
        admin.store(),
        &admin.clock,
        &mut rng,
        accounts::find_user(admin.store(), "alice")
            .await
            .unwrap()
            .id,
        None,
        false,
    )
    .await
    .unwrap();
    accounts::issue_compat_token(
        admin.store(),
        &admin.clock,
        &mut rng,
        accounts::find_user(admin.store(), "bob").await.unwrap().id,
        None,
        false,
    )
    .await
    .unwrap();

    let (status, list) = admin.get("/api/admin/v1/compat-sessions").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["meta"]["count"], 3);
    let (_, list) = admin
        .get(&format!(
            "/api/admin/v1/compat-sessions?filter[user]={}&page[first]=1",
            alice.id
        ))
        .await;
    assert_eq!(list["meta"]["count"], 2);
    let item = &list["data"][0];
    assert_eq!(item["type"], "compat-session");
    assert_eq!(item["attributes"]["device_id"], "PHONE");
    assert_eq!(item["attributes"]["user_id"], alice.id.to_string());
    assert!(item["attributes"]["finished_at"].is_null());
    assert!(list["links"]["next"].is_string());

    let path = format!("/api/admin/v1/compat-sessions/{}", first.session.id);
    let (status, got) = admin.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(got["data"]["id"], first.session.id.to_string());
    let (status, finished) = admin.post_empty(&format!("{path}/finish")).await;
    assert_eq!(status, 200, "{finished}");
    assert!(finished["data"]["attributes"]["finished_at"].is_string());
    let (status, body) = admin.post_empty(&format!("{path}/finish")).await;
    assert_eq!(status, 409, "{body}");

    // The finished session's token no longer works anywhere.
    let mut reader = admin.store().reader().await.unwrap();
    let resolved = gatehouse::services::access::resolve_access_token(
        &mut reader,
        &first.access_token,
        gatehouse::domain::Clock::now(&admin.clock),
    )
    .await
    .unwrap();
    assert!(resolved.is_none());

    let (_, list) = admin
        .get("/api/admin/v1/compat-sessions?filter[status]=finished")
        .await;
    assert_eq!(list["meta"]["count"], 1);
    let (_, list) = admin
        .get("/api/admin/v1/compat-sessions?filter[status]=active")
        .await;
    assert_eq!(list["meta"]["count"], 2);
    let (status, _) = admin
        .get(&format!(
            "/api/admin/v1/compat-sessions/{}",
            ulid::Ulid::new()
        ))
        .await;
    assert_eq!(status, 404);
    let (status, _) = admin
        .post_empty(&format!(
            "/api/admin/v1/compat-sessions/{}/finish",
            ulid::Ulid::new()
        ))
        .await;
    assert_eq!(status, 404);
}

on_both_backends!(
    user_emails_add_list_get_delete,
    compat_sessions_list_get_finish
);

//! `/personal-sessions`: create (token shown once), list and filters, get, revoke, regenerate.

use poem::http::Method;
use serde_json::json;

use super::{Admin, title};
use crate::{common::TestDb, on_both_backends};

async fn personal_sessions_create_list_revoke_regenerate(db: TestDb) {
    let admin = Admin::new(db).await;
    let alice = admin.register("alice", false).await;
    let boss = admin.register("boss", true).await;

    // Create: 201 with the token once; it works for a matching scope.
    let (status, created) = admin
        .post(
            "/api/admin/v1/personal-sessions",
            json!({"actor_user_id": boss.id.to_string(), "human_name": "ci", "scope": "urn:mas:admin", "expires_in": 3600}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let data = &created["data"];
    assert_eq!(data["type"], "personal-session");
    assert_eq!(data["attributes"]["actor_user_id"], boss.id.to_string());
    assert_eq!(data["attributes"]["human_name"], "ci");
    assert_eq!(data["attributes"]["scope"], "urn:mas:admin");
    assert!(data["attributes"]["expires_at"].is_string());
    assert!(data["attributes"]["revoked_at"].is_null());
    let token = data["attributes"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("mpt_"));
    let boss_session = data["id"].as_str().unwrap().to_owned();
    let (status, _) = admin
        .call_as(Some(&token), Method::GET, "/api/admin/v1/users", None)
        .await;
    assert_eq!(status, 200);

    let (status, created) = admin
        .post(
            "/api/admin/v1/personal-sessions",
            json!({"actor_user_id": alice.id.to_string(), "human_name": "bot", "scope": "openid urn:matrix:client:api:*"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let alice_session = created["data"]["id"].as_str().unwrap().to_owned();
    assert!(created["data"]["attributes"]["expires_at"].is_null());

    // Errors: admin scope for a non-admin, unknown actor, bad body.
    let (status, body) = admin
        .post(
            "/api/admin/v1/personal-sessions",
            json!({"actor_user_id": alice.id.to_string(), "human_name": "x", "scope": "urn:mas:admin"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = admin
        .post(
            "/api/admin/v1/personal-sessions",
            json!({"actor_user_id": ulid::Ulid::new().to_string(), "human_name": "x", "scope": "openid"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(title(&body).contains("not found"));
    let (status, _) = admin
        .post(
            "/api/admin/v1/personal-sessions",
            json!({"human_name": "x", "scope": "openid"}),
        )
        .await;
    assert_eq!(status, 400);

    // List (root's own session from the harness is there too) and filters.
    let (status, list) = admin.get("/api/admin/v1/personal-sessions").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["meta"]["count"], 3);
    assert!(list["data"][0]["attributes"].get("access_token").is_none());
    let (_, list) = admin
        .get(&format!(
            "/api/admin/v1/personal-sessions?filter[actor_user]={}",
            alice.id
        ))
        .await;
    assert_eq!(list["meta"]["count"], 1);
    assert_eq!(list["data"][0]["id"], alice_session.as_str());
    let (_, list) = admin
        .get("/api/admin/v1/personal-sessions?filter[scope]=urn:mas:admin")
        .await;
    assert_eq!(list["meta"]["count"], 2);
    let (_, list) = admin
        .get("/api/admin/v1/personal-sessions?filter[scope]=urn:mas")
        .await;
    assert_eq!(list["meta"]["count"], 0);
    let (_, list) = admin
        .get("/api/admin/v1/personal-sessions?filter[expires]=true")
        .await;
    assert_eq!(list["meta"]["count"], 1);
    let (_, list) = admin
        .get("/api/admin/v1/personal-sessions?filter[expires_before]=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(list["meta"]["count"], 1);
    assert_eq!(list["data"][0]["id"], boss_session.as_str());
    let (_, list) = admin
        .get("/api/admin/v1/personal-sessions?filter[expires_after]=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(list["meta"]["count"], 0);
    let root = admin
        .store()
        .reader()
        .await
        .unwrap()
        .users()
        .find_by_username("root")
        .await
        .unwrap()
        .unwrap();
    let (_, list) = admin
        .get(&format!(
            "/api/admin/v1/personal-sessions?filter[owner_user]={}&page[first]=1",
            root.id
        ))
        .await;
    // The harness's own token is owned by root too.
    assert_eq!(list["meta"]["count"], 3);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(
        list["links"]["next"]
            .as_str()
            .unwrap()
            .contains("filter[owner_user]=")
    );

    // Regenerate: new token, old one dead.
    let path = format!("/api/admin/v1/personal-sessions/{boss_session}");
    let (status, regenerated) = admin
        .post(&format!("{path}/regenerate"), json!({"expires_in": 60}))
        .await;
    assert_eq!(status, 200, "{regenerated}");
    let new_token = regenerated["data"]["attributes"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_token, token);
    let (status, _) = admin
        .call_as(Some(&token), Method::GET, "/api/admin/v1/users", None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = admin
        .call_as(Some(&new_token), Method::GET, "/api/admin/v1/users", None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = admin.post_empty(&format!("{path}/regenerate")).await;
    assert_eq!(status, 200);

    // Get, revoke (then 409s), status filter.
    let (status, got) = admin.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(got["links"]["self"], path);
    assert!(got["data"]["attributes"].get("access_token").is_none());
    let (status, revoked) = admin.post_empty(&format!("{path}/revoke")).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["data"]["attributes"]["revoked_at"].is_string());
    let (status, body) = admin.post_empty(&format!("{path}/revoke")).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = admin.post_empty(&format!("{path}/regenerate")).await;
    assert_eq!(status, 409, "{body}");
    let (_, list) = admin
        .get("/api/admin/v1/personal-sessions?filter[status]=revoked")
        .await;
    assert_eq!(list["meta"]["count"], 1);
    let (_, list) = admin
        .get("/api/admin/v1/personal-sessions?filter[status]=active&count=only")
        .await;
    assert_eq!(list["meta"]["count"], 2);
    assert!(list.get("data").is_none());

    let unknown = ulid::Ulid::new();
    for path in [format!("/api/admin/v1/personal-sessions/{unknown}")] {
        assert_eq!(admin.get(&path).await.0, 404);
        assert_eq!(admin.post_empty(&format!("{path}/revoke")).await.0, 404);
        assert_eq!(admin.post_empty(&format!("{path}/regenerate")).await.0, 404);
    }
    assert_eq!(
        admin.get("/api/admin/v1/personal-sessions/nope").await.0,
        400
    );
}

on_both_backends!(personal_sessions_create_list_revoke_regenerate);

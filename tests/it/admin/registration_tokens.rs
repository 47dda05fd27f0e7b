//! `/user-registration-tokens`: create, list and filters, get, update, revoke, unrevoke.

use chrono::Duration;
use gatehouse::domain::Clock;
use serde_json::json;

use super::{Admin, title};
use crate::{common::TestDb, on_both_backends};

async fn registration_tokens_create_list_update_revoke(db: TestDb) {
    let admin = Admin::new(db).await;
    let base = "/api/admin/v1/user-registration-tokens";

    // Create: a given code, a random one, and one that expires soon.
    let (status, created) = admin
        .post(base, json!({"token": "welcome-2026", "usage_limit": 1}))
        .await;
    assert_eq!(status, 201, "{created}");
    let data = &created["data"];
    assert_eq!(data["type"], "user-registration_token");
    assert_eq!(data["attributes"]["token"], "welcome-2026");
    assert_eq!(data["attributes"]["usage_limit"], 1);
    assert_eq!(data["attributes"]["times_used"], 0);
    assert_eq!(data["attributes"]["valid"], true);
    let limited = data["id"].as_str().unwrap().to_owned();

    let (status, created) = admin.post(base, json!({})).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["data"]["attributes"]["token"]
            .as_str()
            .unwrap()
            .len(),
        20
    );
    assert!(created["data"]["attributes"]["usage_limit"].is_null());
    let random = created["data"]["id"].as_str().unwrap().to_owned();

    let soon = admin.clock.now() + Duration::hours(1);
    let (status, created) = admin
        .post(
            base,
            json!({"token": "soon", "expires_at": soon.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let expiring = created["data"]["id"].as_str().unwrap().to_owned();

    // Errors: a duplicate code, a malformed one.
    let (status, body) = admin.post(base, json!({"token": "welcome-2026"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(title(&body).contains("already exists"));
    let (status, _) = admin.post(base, json!({"token": "with space"})).await;
    assert_eq!(status, 400);

    // Use the limited one up (as registration does).
    {
        let mut repo = admin.store().repo().await.unwrap();
        let mut token = repo
            .registration_tokens()
            .find_by_token("welcome-2026")
            .await
            .unwrap()
            .unwrap();
        assert!(
            repo.registration_tokens()
                .use_token(&mut token, admin.clock.now())
                .await
                .unwrap()
        );
        repo.save().await.unwrap();
    }

    let (status, list) = admin.get(base).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["meta"]["count"], 3);
    let count = |query: &'static str| {
        let admin = &admin;
        async move {
            let (status, list) = admin.get(&format!("{base}?{query}")).await;
            assert_eq!(status, 200, "{query}: {list}");
            list["meta"]["count"].as_u64().unwrap()
        }
    };
    assert_eq!(count("filter[used]=true").await, 1);
    assert_eq!(count("filter[used]=false").await, 2);
    assert_eq!(count("filter[valid]=true").await, 2);
    assert_eq!(count("filter[valid]=false").await, 1);
    assert_eq!(count("filter[expired]=true").await, 0);

    // Time passes: the expiring one expires.
    admin.clock.advance(Duration::hours(2));
    assert_eq!(count("filter[expired]=true").await, 1);
    assert_eq!(count("filter[expired]=false").await, 2);
    assert_eq!(count("filter[valid]=true").await, 1);
    let (_, got) = admin.get(&format!("{base}/{expiring}")).await;
    assert_eq!(got["data"]["attributes"]["valid"], false);

    // Update: clearing the expiry makes it valid again; a missing field is kept.
    let (status, updated) = admin
        .put(
            &format!("{base}/{expiring}"),
            json!({"expires_at": null, "usage_limit": 5}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert!(updated["data"]["attributes"]["expires_at"].is_null());
    assert_eq!(updated["data"]["attributes"]["usage_limit"], 5);
    assert_eq!(updated["data"]["attributes"]["valid"], true);
    let (status, updated) = admin
        .put(&format!("{base}/{expiring}"), json!({"usage_limit": null}))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert!(updated["data"]["attributes"]["usage_limit"].is_null());
    let (status, updated) = admin
        .put(&format!("{base}/{limited}"), json!({"usage_limit": 2}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(updated["data"]["attributes"]["valid"], true);
    assert_eq!(updated["data"]["attributes"]["token"], "welcome-2026");

    // Revoke, unrevoke, and their 409s.
    let path = format!("{base}/{random}");
    let (status, revoked) = admin.post_empty(&format!("{path}/revoke")).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["data"]["attributes"]["revoked_at"].is_string());
    assert_eq!(revoked["data"]["attributes"]["valid"], false);
    assert_eq!(admin.post_empty(&format!("{path}/revoke")).await.0, 409);
    assert_eq!(count("filter[revoked]=true").await, 1);
    let (status, unrevoked) = admin.post_empty(&format!("{path}/unrevoke")).await;
    assert_eq!(status, 200, "{unrevoked}");
    assert!(unrevoked["data"]["attributes"]["revoked_at"].is_null());
    assert_eq!(admin.post_empty(&format!("{path}/unrevoke")).await.0, 409);
    assert_eq!(count("filter[revoked]=false").await, 3);

    // Pagination keeps the filters.
    let (_, page) = admin
        .get(&format!("{base}?filter[revoked]=false&page[first]=2"))
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let next = page["links"]["next"].as_str().unwrap().to_owned();
    assert!(next.contains("filter[revoked]=false"), "{next}");
    let (_, page) = admin.get(&next).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);

    let unknown = ulid::Ulid::new();
    let path = format!("{base}/{unknown}");
    assert_eq!(admin.get(&path).await.0, 404);
    assert_eq!(admin.put(&path, json!({"usage_limit": 1})).await.0, 404);
    assert_eq!(admin.post_empty(&format!("{path}/revoke")).await.0, 404);
    assert_eq!(admin.post_empty(&format!("{path}/unrevoke")).await.0, 404);
}

on_both_backends!(registration_tokens_create_list_update_revoke);

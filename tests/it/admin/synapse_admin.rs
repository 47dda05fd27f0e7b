//! The Synapse admin API routes, replayed the way synapse-admin calls them: list users, open
//! one, edit it (password, admin, deactivate), reset a password. Field names are Synapse's.

use gatehouse::services::accounts;
use poem::http::Method;
use serde_json::{Value, json};

use super::Admin;
use crate::{common::TestDb, on_both_backends};

async fn synapse_admin_users_list_edit_and_reset_password(db: TestDb) {
    let admin = Admin::new(db).await;
    let mut rng = rand::rngs::OsRng;
    // synapse-admin logs in through the compat API; an admin compat token stands in for that.
    let token = accounts::issue_compat_token(
        admin.store(),
        &admin.clock,
        &mut rng,
        accounts::find_user(admin.store(), "root").await.unwrap().id,
        None,
        true,
    )
    .await
    .unwrap()
    .access_token;
    let call = |method: Method, path: String, body: Option<Value>| {
        let token = token.clone();
        let admin = &admin;
        async move { admin.call_as(Some(&token), method, &path, body).await }
    };
    for i in 0..12 {
        admin.register(&format!("user{i:02}"), false).await;
    }
    accounts::add_email(
        admin.store(),
        &admin.clock,
        accounts::find_user(admin.store(), "user01")
            .await
            .unwrap()
            .id,
        "one@example.org",
    )
    .await
    .unwrap();
    accounts::lock_user(
        admin.store(),
        &admin.clock,
        accounts::find_user(admin.store(), "user11")
            .await
            .unwrap()
            .id,
        false,
    )
    .await
    .unwrap();

    // The list page: synapse-admin's query.
    let (status, page) = call(
        Method::GET,
        "/_synapse/admin/v2/users?from=0&limit=10&guests=true&deactivated=false&locked=true&order_by=name&dir=f".into(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 13);
    assert_eq!(page["next_token"], "10");
    let users = page["users"].as_array().unwrap();
    assert_eq!(users.len(), 10);
    let first = &users[0];
    assert_eq!(first["name"], "@root:example.org");
    for field in [
        "name",
        "user_type",
        "is_guest",
        "admin",
        "deactivated",
        "locked",
        "shadow_banned",
        "displayname",
        "avatar_url",
        "creation_ts",
    ] {
        assert!(first.get(field).is_some(), "{field} missing in {first}");
    }
    assert_eq!(first["admin"], 1);
    let (_, next) = call(
        Method::GET,
        "/_synapse/admin/v2/users?from=10&limit=10&guests=true&deactivated=false&locked=true&order_by=name&dir=f".into(),
        None,
    )
    .await;
    assert_eq!(next["users"].as_array().unwrap().len(), 3);
    assert!(next.get("next_token").is_none());
    // Locked users are left out unless asked for (Synapse's default); search by name.
    let (_, unlocked) = call(
        Method::GET,
        "/_synapse/admin/v2/users?limit=100".into(),
        None,
    )
    .await;
    assert_eq!(unlocked["total"], 12);
    let (_, search) = call(
        Method::GET,
        "/_synapse/admin/v2/users?name=user0&order_by=creation_ts&dir=b".into(),
        None,
    )
    .await;
    assert_eq!(search["total"], 10);
    assert_eq!(search["users"][0]["name"], "@user09:example.org");

    // Show one.
    let (status, user) = call(
        Method::GET,
        "/_synapse/admin/v2/users/@user01:example.org".into(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["threepids"][0]["medium"], "email");
    assert_eq!(user["threepids"][0]["address"], "one@example.org");
    assert_eq!(user["admin"], false);
    assert_eq!(user["deactivated"], false);

    // Edit: password, admin, email, display name.
    let (status, edited) = call(
        Method::PUT,
        "/_synapse/admin/v2/users/@user01:example.org".into(),
        Some(json!({
            "password": "a brand new password",
            "admin": true,
            "displayname": "User One",
            "threepids": [{"medium": "email", "address": "uno@example.org"}],
        })),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["admin"], true);
    assert_eq!(edited["threepids"].as_array().unwrap().len(), 1);
    assert_eq!(edited["threepids"][0]["address"], "uno@example.org");
    let user01 = accounts::find_user(admin.store(), "user01").await.unwrap();
    gatehouse::services::sign_in::verify_password(
        admin.store(),
        &admin.clock,
        &admin.state.passwords,
        &user01,
        "a brand new password",
    )
    .await
    .expect("password set through PUT v2/users");

    // Deactivate through the edit form, then through v1/deactivate.
    let (status, edited) = call(
        Method::PUT,
        "/_synapse/admin/v2/users/@user02:example.org".into(),
        Some(json!({"deactivated": true})),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["deactivated"], true);
    let (status, body) = call(
        Method::POST,
        "/_synapse/admin/v1/deactivate/@user03:example.org".into(),
        Some(json!({"erase": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id_server_unbind_result"], "success");

    // Create through PUT.
    let (status, created) = call(
        Method::PUT,
        "/_synapse/admin/v2/users/@newbie:example.org".into(),
        Some(json!({"password": "newbie password 1", "admin": false})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "@newbie:example.org");

    // Reset a password; the account operation accepts it afterwards.
    let (status, body) = call(
        Method::POST,
        "/_synapse/admin/v1/reset_password/@user04:example.org".into(),
        Some(json!({"new_password": "reset by synapse-admin", "logout_devices": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({}));
    let user04 = accounts::find_user(admin.store(), "user04").await.unwrap();
    gatehouse::services::sign_in::verify_password(
        admin.store(),
        &admin.clock,
        &admin.state.passwords,
        &user04,
        "reset by synapse-admin",
    )
    .await
    .expect("password reset through v1/reset_password");

    // Admin flag and whois.
    let (status, body) = call(
        Method::PUT,
        "/_synapse/admin/v1/users/@user05:example.org/admin".into(),
        Some(json!({"admin": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = call(
        Method::GET,
        "/_synapse/admin/v1/users/@user05:example.org/admin".into(),
        None,
    )
    .await;
    assert_eq!(body, json!({"admin": true}));
    let (status, body) = call(
        Method::GET,
        "/_synapse/admin/v1/whois/@root:example.org".into(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "@root:example.org");
    assert_eq!(body["devices"].as_object().unwrap().len(), 1);

    // Errors in Synapse's shape.
    let (status, body) = call(
        Method::GET,
        "/_synapse/admin/v2/users/@nobody:example.org".into(),
        None,
    )
    .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (404, Some("M_NOT_FOUND"))
    );
    let (status, body) = call(
        Method::GET,
        "/_synapse/admin/v2/users/@someone:elsewhere.org".into(),
        None,
    )
    .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM"))
    );
    let (status, body) = admin
        .call_as(None, Method::GET, "/_synapse/admin/v2/users", None)
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_MISSING_TOKEN"))
    );
    let (status, body) = admin
        .call_as(
            Some("mct_nope"),
            Method::GET,
            "/_synapse/admin/v2/users",
            None,
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_UNKNOWN_TOKEN"))
    );
    let plain = accounts::issue_compat_token(
        admin.store(),
        &admin.clock,
        &mut rng,
        accounts::find_user(admin.store(), "user06")
            .await
            .unwrap()
            .id,
        None,
        false,
    )
    .await
    .unwrap()
    .access_token;
    let (status, body) = admin
        .call_as(Some(&plain), Method::GET, "/_synapse/admin/v2/users", None)
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
    // The MAS admin token does not carry the Synapse admin scope.
    let (status, _) = admin
        .call_as(
            Some(&admin.token.clone()),
            Method::GET,
            "/_synapse/admin/v2/users",
            None,
        )
        .await;
    assert_eq!(status, 403);
}

on_both_backends!(synapse_admin_users_list_edit_and_reset_password);

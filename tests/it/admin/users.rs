//! `/users`: shapes, pagination both ways, filters, and every user operation with its errors.

use gatehouse::services::accounts;
use serde_json::{Value, json};

use super::{Admin, title};
use crate::{common::TestDb, on_both_backends};

fn usernames(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {page}"))
        .iter()
        .map(|user| user["attributes"]["username"].as_str().unwrap().to_owned())
        .collect()
}

async fn users_list_pages_forward_and_backward(db: TestDb) {
    let admin = Admin::new(db).await;
    let mut expected = Vec::new();
    for i in 0..25 {
        let name = format!("user{i:02}");
        admin.register(&name, false).await;
        expected.push(name);
    }

    // Shape of a list and of its items.
    let (status, first) = admin
        .get("/api/admin/v1/users?filter[admin]=false&page[first]=10")
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["meta"]["count"], 25);
    let item = &first["data"][0];
    assert_eq!(item["type"], "user");
    let id = item["id"].as_str().unwrap();
    assert_eq!(item["meta"]["page"]["cursor"], id);
    assert_eq!(item["links"]["self"], format!("/api/admin/v1/users/{id}"));
    assert_eq!(item["attributes"]["admin"], false);
    assert_eq!(item["attributes"]["legacy_guest"], false);
    assert!(item["attributes"]["locked_at"].is_null());
    assert!(
        item["attributes"]["created_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-01T")
    );
    assert_eq!(
        first["links"]["first"],
        "/api/admin/v1/users?filter[admin]=false&page[first]=10"
    );
    assert_eq!(
        first["links"]["last"],
        "/api/admin/v1/users?filter[admin]=false&page[last]=10"
    );
    assert!(first["links"].get("prev").is_none());

    // Forward, following links.next.
    let mut seen = Vec::new();
    let mut link = first["links"]["self"].as_str().unwrap().to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = admin.get(&link).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(usernames(&page));
        pages += 1;
        match page["links"]["next"].as_str() {
            Some(next) => link = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);

    // Backward from the last page, following links.prev.
    let mut seen = Vec::new();
    let mut link = first["links"]["last"].as_str().unwrap().to_owned();
    let mut sizes = Vec::new();
    loop {
        let (status, page) = admin.get(&link).await;
        assert_eq!(status, 200, "{page}");
        let mut names = usernames(&page);
        sizes.push(names.len());
        names.extend(seen);
        seen = names;
        match page["links"]["prev"].as_str() {
            Some(prev) => link = prev.to_owned(),
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(seen, expected);

    // Default page size, count modes.
    let (_, page) = admin.get("/api/admin/v1/users").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 10);
    assert_eq!(page["meta"]["count"], 26);
    let (_, only) = admin.get("/api/admin/v1/users?count=only").await;
    assert_eq!(only["meta"]["count"], 26);
    assert!(only.get("data").is_none());
    let (_, no_count) = admin.get("/api/admin/v1/users?count=false").await;
    assert!(no_count.get("meta").is_none());
    assert_eq!(no_count["data"].as_array().unwrap().len(), 10);

    // Bad pagination.
    for bad in [
        "page[first]=10&page[last]=10",
        "page[first]=0",
        "page[first]=abc",
        "page[after]=not-a-ulid",
        "count=maybe",
        "filter[status]=sleeping",
    ] {
        let (status, body) = admin.get(&format!("/api/admin/v1/users?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["errors"][0]["title"].is_string(), "{bad}: {body}");
    }
}

async fn users_list_filters(db: TestDb) {
    let admin = Admin::new(db).await;
    for name in ["alice", "alfred", "bob", "carol"] {
        admin.register(name, false).await;
    }
    accounts::lock_user(
        admin.store(),
        &admin.clock,
        accounts::find_user(admin.store(), "bob").await.unwrap().id,
        false,
    )
    .await
    .unwrap();
    accounts::deactivate_user(
        admin.store(),
        &admin.clock,
        accounts::find_user(admin.store(), "carol")
            .await
            .unwrap()
            .id,
        false,
    )
    .await
    .unwrap();
    accounts::issue_compat_token(
        admin.store(),
        &admin.clock,
        &mut gatehouse::domain::RandomSource::System.rng(),
        accounts::find_user(admin.store(), "alfred")
            .await
            .unwrap()
            .id,
        None,
        false,
    )
    .await
    .unwrap();

    let names = |query: &'static str| {
        let admin = &admin;
        async move {
            let (status, page) = admin.get(&format!("/api/admin/v1/users?{query}")).await;
            assert_eq!(status, 200, "{query}: {page}");
            usernames(&page)
        }
    };
    assert_eq!(names("filter[admin]=true").await, ["root"]);
    assert_eq!(names("filter[search]=al").await, ["alice", "alfred"]);
    assert_eq!(names("filter[search]=%25").await, Vec::<String>::new());
    // Deactivation locks too (as in MAS).
    assert_eq!(names("filter[status]=locked").await, ["bob", "carol"]);
    assert_eq!(names("filter[status]=deactivated").await, ["carol"]);
    assert_eq!(
        names("filter[status]=active").await,
        ["root", "alice", "alfred"]
    );
    assert_eq!(
        names("filter[legacy-guest]=true").await,
        Vec::<String>::new()
    );
    assert_eq!(
        names("filter[has-active-compat-session]=true").await,
        ["alfred"]
    );
    assert_eq!(
        names("filter[has-active-oauth2-session]=true").await,
        Vec::<String>::new()
    );
    let (_, page) = admin
        .get("/api/admin/v1/users?filter[search]=al&filter[status]=active&page[first]=1")
        .await;
    assert_eq!(page["meta"]["count"], 2);
    assert_eq!(
        page["links"]["next"].as_str().unwrap(),
        format!(
            "/api/admin/v1/users?filter[search]=al&filter[status]=active&page[after]={}&page[first]=1",
            page["data"][0]["id"].as_str().unwrap()
        )
    );
}

async fn users_get_create_and_change(db: TestDb) {
    let admin = Admin::new(db).await;

    // Create.
    let (status, created) = admin
        .post("/api/admin/v1/users", json!({"username": "dave"}))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["type"], "user");
    assert_eq!(created["data"]["attributes"]["username"], "dave");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["links"]["self"],
        format!("/api/admin/v1/users/{id}")
    );
    let (status, body) = admin
        .post("/api/admin/v1/users", json!({"username": "dave"}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(title(&body).contains("already taken"));
    let (status, body) = admin
        .post("/api/admin/v1/users", json!({"username": "Not Valid"}))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = admin.post("/api/admin/v1/users", json!({})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = admin
        .call_as(
            Some(&admin.token.clone()),
            poem::http::Method::POST,
            "/api/admin/v1/users",
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // Get, by id and by username.
    let user_path = format!("/api/admin/v1/users/{id}");
    let (status, got) = admin.get(&user_path).await;
    assert_eq!(status, 200);
    assert_eq!(got["data"]["attributes"]["username"], "dave");
    let (status, got) = admin.get("/api/admin/v1/users/by-username/dave").await;
    assert_eq!(status, 200);
    assert_eq!(got["data"]["id"], id.as_str());
    let (status, body) = admin.get("/api/admin/v1/users/by-username/nobody").await;
    assert_eq!(status, 404, "{body}");
    let missing = ulid::Ulid::new();
    for path in [
        format!("/api/admin/v1/users/{missing}"),
        format!("/api/admin/v1/users/{missing}/lock"),
    ] {
        let (status, body) = if path.ends_with("lock") {
            admin.post_empty(&path).await
        } else {
            admin.get(&path).await
        };
        assert_eq!(status, 404, "{path}: {body}");
        assert!(title(&body).contains("not found"));
    }
    let (status, _) = admin.get("/api/admin/v1/users/not-a-ulid").await;
    assert_eq!(status, 400);

    // Password.
    let (status, body) = admin
        .post(
            &format!("{user_path}/set-password"),
            json!({"password": "correct horse battery staple"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let user = accounts::find_user(admin.store(), "dave").await.unwrap();
    gatehouse::services::sign_in::verify_password(
        admin.store(),
        &admin.clock,
        &admin.state.passwords,
        &user,
        "correct horse battery staple",
    )
    .await
    .expect("the new password works");

    // Admin flag.
    let (status, body) = admin
        .post(&format!("{user_path}/set-admin"), json!({"admin": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["attributes"]["admin"], true);
    let (status, _) = admin
        .post(&format!("{user_path}/set-admin"), json!({"admin": "yes"}))
        .await;
    assert_eq!(status, 400);

    // Lock, unlock.
    let (status, body) = admin.post_empty(&format!("{user_path}/lock")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["attributes"]["locked_at"].is_string());
    let (_, body) = admin.post_empty(&format!("{user_path}/unlock")).await;
    assert!(body["data"]["attributes"]["locked_at"].is_null());

    // Deactivate (body optional), reactivate (stays locked), unlock.
    let (status, body) = admin.post_empty(&format!("{user_path}/deactivate")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["attributes"]["deactivated_at"].is_string());
    assert!(body["data"]["attributes"]["locked_at"].is_string());
    let (status, body) = admin
        .post(
            &format!("{user_path}/deactivate"),
            json!({"skip_erase": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = admin.post_empty(&format!("{user_path}/reactivate")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["attributes"]["deactivated_at"].is_null());
    assert!(body["data"]["attributes"]["locked_at"].is_string());
    let (_, body) = admin.post_empty(&format!("{user_path}/unlock")).await;
    assert!(body["data"]["attributes"]["locked_at"].is_null());

    // The homeserver work was queued.
    let queues: Vec<String> =
        sqlx::query_scalar("SELECT queue_name FROM queue_jobs ORDER BY queue_job_id")
            .fetch_all(admin.store().pool())
            .await
            .unwrap();
    for queue in ["provision-user", "deactivate-user", "reactivate-user"] {
        assert!(queues.iter().any(|q| q == queue), "{queue} in {queues:?}");
    }
}

on_both_backends!(
    users_list_pages_forward_and_backward,
    users_list_filters,
    users_get_create_and_change
);

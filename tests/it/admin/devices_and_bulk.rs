//! Beyond MAS: `/users/{id}/devices`, `set-displayname` / `unset-displayname`, `/users/bulk`.

use gatehouse::{
    domain::jobs::{Job, JobStatus},
    services::accounts,
};
use serde_json::json;

use super::{Admin, title};
use crate::{common::TestDb, on_both_backends};

async fn queued(admin: &Admin) -> Vec<Job> {
    admin
        .store()
        .reader()
        .await
        .unwrap()
        .jobs()
        .list(JobStatus::Available)
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.job)
        .collect()
}

async fn devices_list_rename_delete(db: TestDb) {
    let admin = Admin::new(db).await;
    let alice = admin.register("alice", false).await;
    let mut rng = rand::rngs::OsRng;
    for device in ["PHONE", "LAPTOP"] {
        accounts::issue_compat_token(
            admin.store(),
            &admin.clock,
            &mut rng,
            accounts::find_user(admin.store(), "alice")
                .await
                .unwrap()
                .id,
            Some(device.to_owned()),
            false,
        )
        .await
        .unwrap();
    }
    let base = format!("/api/admin/v1/users/{}/devices", alice.id);

    let (status, list) = admin.get(&base).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["meta"]["count"], 2);
    assert_eq!(list["data"][0]["type"], "device");
    assert_eq!(list["data"][0]["id"], "PHONE");
    assert_eq!(list["data"][0]["attributes"]["device_id"], "PHONE");
    assert_eq!(list["data"][0]["links"]["self"], format!("{base}/PHONE"));
    assert_eq!(list["links"]["self"], base);

    let (status, renamed) = admin
        .put(
            &format!("{base}/PHONE"),
            json!({"display_name": "Alice's phone"}),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(
        renamed["data"]["attributes"]["display_name"],
        "Alice's phone"
    );
    let (_, list) = admin.get(&base).await;
    assert_eq!(
        list["data"][0]["attributes"]["display_name"],
        "Alice's phone"
    );
    // The homeserver gets the new name through a queued job.
    assert!(
        queued(&admin).await.iter().any(|job| matches!(
            job,
            Job::UpdateDeviceDisplayName { device_id, display_name, .. }
                if device_id == "PHONE" && display_name == "Alice's phone"
        )),
        "rename queued for the homeserver"
    );

    let (status, body) = admin.delete(&format!("{base}/LAPTOP")).await;
    assert_eq!(status, 204, "{body}");
    let (_, list) = admin.get(&base).await;
    assert_eq!(list["meta"]["count"], 1);
    assert!(
        queued(&admin)
            .await
            .contains(&Job::SyncDevices { user_id: alice.id })
    );

    // 404s: a finished device, an unknown one, an unknown user.
    let (status, body) = admin.delete(&format!("{base}/LAPTOP")).await;
    assert_eq!(status, 404, "{body}");
    assert!(title(&body).contains("LAPTOP"));
    let (status, _) = admin
        .put(&format!("{base}/NOPE"), json!({"display_name": "x"}))
        .await;
    assert_eq!(status, 404);
    let other = format!("/api/admin/v1/users/{}/devices", ulid::Ulid::new());
    assert_eq!(admin.get(&other).await.0, 404);
    assert_eq!(admin.delete(&format!("{other}/PHONE")).await.0, 404);
}

async fn display_name_set_unset(db: TestDb) {
    let admin = Admin::new(db).await;
    let alice = admin.register("alice", false).await;
    let base = format!("/api/admin/v1/users/{}", alice.id);

    let (status, body) = admin
        .post(
            &format!("{base}/set-displayname"),
            json!({"displayname": "Alice Liddell"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["attributes"]["username"], "alice");
    assert!(queued(&admin).await.contains(&Job::ProvisionUser {
        user_id: alice.id,
        set_displayname: Some("Alice Liddell".to_owned()),
    }));
    let (status, body) = admin.post_empty(&format!("{base}/unset-displayname")).await;
    assert_eq!(status, 200, "{body}");
    assert!(queued(&admin).await.contains(&Job::ProvisionUser {
        user_id: alice.id,
        set_displayname: Some(String::new()),
    }));

    let (status, _) = admin
        .post(
            &format!("{base}/set-displayname"),
            json!({"displayname": ""}),
        )
        .await;
    assert_eq!(status, 400);
    let unknown = format!("/api/admin/v1/users/{}", ulid::Ulid::new());
    let (status, _) = admin
        .post(
            &format!("{unknown}/set-displayname"),
            json!({"displayname": "x"}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        admin
            .post_empty(&format!("{unknown}/unset-displayname"))
            .await
            .0,
        404
    );
}

async fn bulk_operations(db: TestDb) {
    let admin = Admin::new(db).await;
    let alice = admin.register("alice", false).await;
    let bob = admin.register("bob", false).await;
    let mut rng = rand::rngs::OsRng;
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
    let unknown = ulid::Ulid::new().to_string();
    let ids = json!([
        alice.id.to_string(),
        unknown,
        "not-a-ulid",
        bob.id.to_string()
    ]);

    let (status, body) = admin
        .post(
            "/api/admin/v1/users/bulk",
            json!({"action": "lock", "user_ids": ids}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["user_id"], alice.id.to_string());
    assert_eq!(results[0]["status"], "ok");
    assert!(results[0].get("title").is_none());
    assert_eq!(results[1]["status"], "not_found");
    assert_eq!(results[2]["status"], "error");
    assert!(results[2]["title"].as_str().unwrap().contains("not a ULID"));
    assert_eq!(results[3]["status"], "ok");
    let (_, got) = admin.get(&format!("/api/admin/v1/users/{}", bob.id)).await;
    assert!(got["data"]["attributes"]["locked_at"].is_string());

    let (_, body) = admin
        .post(
            "/api/admin/v1/users/bulk",
            json!({"action": "unlock", "user_ids": [alice.id.to_string(), bob.id.to_string()]}),
        )
        .await;
    assert!(
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "ok")
    );
    let (_, list) = admin
        .get("/api/admin/v1/users?filter[status]=locked&count=only")
        .await;
    assert_eq!(list["meta"]["count"], 0);

    let (_, sessions) = admin
        .get(&format!(
            "/api/admin/v1/compat-sessions?filter[user]={}&filter[status]=active",
            bob.id
        ))
        .await;
    assert_eq!(sessions["meta"]["count"], 1);
    let (_, body) = admin
        .post(
            "/api/admin/v1/users/bulk",
            json!({"action": "kill-sessions", "user_ids": [bob.id.to_string()]}),
        )
        .await;
    assert_eq!(body["results"][0]["status"], "ok", "{body}");
    let (_, sessions) = admin
        .get(&format!(
            "/api/admin/v1/compat-sessions?filter[user]={}&filter[status]=active",
            bob.id
        ))
        .await;
    assert_eq!(sessions["meta"]["count"], 0);

    let (_, body) = admin
        .post(
            "/api/admin/v1/users/bulk",
            json!({"action": "deactivate", "user_ids": [alice.id.to_string()], "skip_erase": true}),
        )
        .await;
    assert_eq!(body["results"][0]["status"], "ok", "{body}");
    assert!(queued(&admin).await.contains(&Job::DeactivateUser {
        user_id: alice.id,
        hs_erase: false,
    }));
    let (_, got) = admin
        .get(&format!("/api/admin/v1/users/{}", alice.id))
        .await;
    assert!(got["data"]["attributes"]["deactivated_at"].is_string());

    let (status, _) = admin
        .post(
            "/api/admin/v1/users/bulk",
            json!({"action": "explode", "user_ids": []}),
        )
        .await;
    assert_eq!(status, 400);
}

on_both_backends!(
    devices_list_rename_delete,
    display_name_set_unset,
    bulk_operations
);

//! `/policy-data`: set, latest, by ID; bad data is a 400 naming its key; and what is set is in
//! force at once, on every server over the database (no restart, no cache to wait for).

use gatehouse::{
    config::Resource,
    domain::scopes::Scope,
    services::accounts::{self, PersonalTokenRequest, Registration},
};
use serde_json::{Value, json};

use super::{Admin, title};
use crate::{common::TestDb, harness::TestServer, on_both_backends};

async fn policy_data_set_latest_and_by_id(db: TestDb) {
    let admin = Admin::new(db).await;
    let (status, body) = admin.get("/api/admin/v1/policy-data/latest").await;
    assert_eq!(status, 404, "{body}");

    let first = json!({"client_registration": {"allow_insecure_uris": true}, "custom": [1, 2]});
    let (status, set) = admin
        .post("/api/admin/v1/policy-data", json!({"data": first}))
        .await;
    assert_eq!(status, 201, "{set}");
    assert_eq!(set["data"]["type"], "policy-data");
    assert_eq!(set["data"]["attributes"]["data"], first);
    assert!(set["data"]["attributes"]["created_at"].is_string());
    let first_id = set["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        set["links"]["self"],
        format!("/api/admin/v1/policy-data/{first_id}")
    );

    let (status, latest) = admin.get("/api/admin/v1/policy-data/latest").await;
    assert_eq!(status, 200, "{latest}");
    assert_eq!(latest["data"], set["data"]);

    let robot = ulid::Ulid::new().to_string();
    let second = json!({"admin_clients": [robot]});
    let (status, set) = admin
        .post("/api/admin/v1/policy-data", json!({"data": second}))
        .await;
    assert_eq!(status, 201, "{set}");
    let second_id = set["data"]["id"].as_str().unwrap().to_owned();
    assert!(second_id > first_id);
    let (_, latest) = admin.get("/api/admin/v1/policy-data/latest").await;
    assert_eq!(latest["data"]["id"], second_id.as_str());
    // Each version stays readable by its ID.
    let (status, old) = admin
        .get(&format!("/api/admin/v1/policy-data/{first_id}"))
        .await;
    assert_eq!(status, 200, "{old}");
    assert_eq!(old["data"]["attributes"]["data"], first);

    // The newest version is in force, laid over the configuration's (which has none here):
    // the first version's registration rule is gone, the second's admin client is in.
    let current = admin.state.policy.current(admin.store()).await.unwrap();
    assert_eq!(
        current.admin_clients,
        [robot.parse::<ulid::Ulid>().unwrap()]
    );
    assert!(!current.client_registration.allow_insecure_uris);

    let (status, body) = admin
        .get(&format!("/api/admin/v1/policy-data/{}", ulid::Ulid::new()))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = admin.get("/api/admin/v1/policy-data/not-an-id").await;
    assert_eq!(status, 400, "{body}");
}

async fn bad_policy_data_is_a_400_naming_the_key(db: TestDb) {
    let admin = Admin::new(db).await;
    let cases: [(Value, &str); 4] = [
        (
            json!({"client_registration": {"allow_insecure_uris": "yes"}}),
            "data.client_registration.allow_insecure_uris",
        ),
        (
            json!({"admin_clients": ["not-a-ulid"]}),
            "data.admin_clients",
        ),
        (
            json!({"client_registration": "strict"}),
            "data.client_registration",
        ),
        (json!([1, 2]), "data"),
    ];
    for (data, key) in cases {
        let (status, body) = admin
            .post("/api/admin/v1/policy-data", json!({"data": data}))
            .await;
        assert_eq!(status, 400, "{data}: {body}");
        assert!(title(&body).contains(key), "{data}: {body}");
    }
    let (status, body) = admin
        .post(
            "/api/admin/v1/policy-data",
            json!({"client_registration": {}}),
        )
        .await;
    assert_eq!(status, 400, "no `data`: {body}");
    // Nothing refused was stored.
    let (status, _) = admin.get("/api/admin/v1/policy-data/latest").await;
    assert_eq!(status, 404);
}

/// A server with the admin API beside the OAuth endpoints, and an admin token for it.
async fn server_with_admin_api(db: &TestDb) -> (TestServer, String) {
    let server = TestServer::start_with(db, |config| {
        config.http.listeners[0].resources.push(Resource::AdminApi);
    })
    .await;
    let token = match accounts::find_user(&server.store, "root").await {
        Ok(root) => root,
        Err(_) => accounts::register_user(
            &server.store,
            &server.clock,
            &server.state.passwords,
            Registration {
                username: "root".to_owned(),
                admin: true,
                ..Registration::default()
            },
        )
        .await
        .unwrap(),
    };
    let token = accounts::issue_personal_token(
        &server.store,
        &server.clock,
        &mut server.state.random.rng(),
        PersonalTokenRequest {
            actor_user_id: token.id,
            owner_user_id: None,
            human_name: "policy test".to_owned(),
            scope: Scope::from_tokens(["urn:mas:admin"]).unwrap(),
            expires_in: None,
        },
    )
    .await
    .unwrap()
    .access_token;
    (server, token)
}

async fn set_policy(server: &TestServer, token: &str, data: Value) {
    let response = server
        .http
        .post(server.at("/api/admin/v1/policy-data"))
        .bearer_auth(token)
        .json(&json!({"data": data}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

async fn posted_policy_changes_registration_at_once_on_every_server(db: TestDb) {
    // Two servers over one database, as two replicas: the policy is set through one and
    // applies on both.
    let (one, token) = server_with_admin_api(&db).await;
    let two = TestServer::start(&db).await;
    let local_dev = |port: u16| {
        json!({
            "redirect_uris": [format!("http://localhost:{port}/callback")],
            "token_endpoint_auth_method": "none",
            "client_uri": format!("http://localhost:{port}/"),
        })
    };
    for server in [&one, &two] {
        let (status, answer) = server
            .post_json("/oauth2/registration", local_dev(3000))
            .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"], "invalid_client_metadata", "{answer}");
    }

    set_policy(
        &one,
        &token,
        json!({"client_registration": {"allow_insecure_uris": true, "allow_host_mismatch": true}}),
    )
    .await;
    for (server, port) in [(&one, 3001), (&two, 3002)] {
        let (status, answer) = server
            .post_json("/oauth2/registration", local_dev(port))
            .await;
        assert_eq!(status, 201, "{answer}");
    }

    // A newer version replaces it as it came, at once too.
    set_policy(
        &one,
        &token,
        json!({"client_registration": {"allow_insecure_uris": false}}),
    )
    .await;
    for (server, port) in [(&one, 3003), (&two, 3004)] {
        let (status, answer) = server
            .post_json("/oauth2/registration", local_dev(port))
            .await;
        assert_eq!(status, 400, "{answer}");
    }
    one.stop().await;
    two.stop().await;
}

on_both_backends!(
    policy_data_set_latest_and_by_id,
    bad_policy_data_is_a_400_naming_the_key,
    posted_policy_changes_registration_at_once_on_every_server,
);

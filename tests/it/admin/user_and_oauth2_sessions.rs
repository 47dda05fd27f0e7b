//! `/user-sessions` and `/oauth2-sessions`: list with filters, get, finish.

use chrono::Duration;
use gatehouse::domain::{
    Clock,
    browser_sessions::BrowserSession,
    oauth2_clients::{GrantType, GrantTypes, OAuth2Client, TokenEndpointAuthMethod},
    oauth2_sessions::OAuth2Session,
    scopes::Scope,
};

use super::Admin;
use crate::{common::TestDb, on_both_backends};

async fn user_sessions_list_get_finish(db: TestDb) {
    let admin = Admin::new(db).await;
    let alice = admin.register("alice", false).await;
    let bob = admin.register("bob", false).await;
    let start = admin.clock.now();
    let mut ids = Vec::new();
    for (user, active_minutes) in [(alice.id, 1), (alice.id, 50), (bob.id, 100)] {
        admin.clock.advance(Duration::minutes(10));
        let session = BrowserSession {
            id: ulid::Ulid::new(),
            user_id: user,
            created_at: admin.clock.now(),
            finished_at: None,
            user_agent: Some("Firefox".to_owned()),
            last_active_at: Some(start + Duration::minutes(active_minutes)),
            last_active_ip: Some("192.0.2.1".to_owned()),
        };
        let mut repo = admin.store().repo().await.unwrap();
        repo.browser_sessions().add(&session).await.unwrap();
        repo.save().await.unwrap();
        ids.push(session.id);
    }
    let base = "/api/admin/v1/user-sessions";
    let count = |query: String| {
        let admin = &admin;
        async move {
            let (status, list) = admin.get(&format!("{base}?{query}")).await;
            assert_eq!(status, 200, "{query}: {list}");
            list["meta"]["count"].as_u64().unwrap()
        }
    };
    assert_eq!(count(String::new()).await, 3);
    assert_eq!(count(format!("filter[user]={}", alice.id)).await, 2);
    let at = |minutes| {
        (start + Duration::minutes(minutes))
            .to_rfc3339()
            .replace('+', "%2B")
    };
    assert_eq!(count(format!("filter[created-before]={}", at(15))).await, 1);
    assert_eq!(count(format!("filter[created-after]={}", at(15))).await, 2);
    assert_eq!(
        count(format!("filter[last-active-before]={}", at(60))).await,
        2
    );
    assert_eq!(
        count(format!("filter[last-active-after]={}", at(60))).await,
        1
    );

    let path = format!("{base}/{}", ids[0]);
    let (status, got) = admin.get(&path).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["data"]["type"], "user-session");
    assert_eq!(got["data"]["attributes"]["user_id"], alice.id.to_string());
    assert_eq!(got["data"]["attributes"]["user_agent"], "Firefox");
    let (status, finished) = admin.post_empty(&format!("{path}/finish")).await;
    assert_eq!(status, 200, "{finished}");
    assert!(finished["data"]["attributes"]["finished_at"].is_string());
    assert_eq!(admin.post_empty(&format!("{path}/finish")).await.0, 409);
    assert_eq!(count("filter[status]=finished".to_owned()).await, 1);
    assert_eq!(count("filter[status]=active".to_owned()).await, 2);
    let unknown = format!("{base}/{}", ulid::Ulid::new());
    assert_eq!(admin.get(&unknown).await.0, 404);
    assert_eq!(admin.post_empty(&format!("{unknown}/finish")).await.0, 404);
}

async fn oauth2_sessions_list_get_finish(db: TestDb) {
    let admin = Admin::new(db).await;
    let alice = admin.register("alice", false).await;
    let mut clients = Vec::new();
    for is_static in [true, false] {
        clients.push(OAuth2Client {
            id: ulid::Ulid::new(),
            is_static,
            encrypted_client_secret: None,
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
            jwks: None,
            jwks_uri: None,
            redirect_uris: Vec::new(),
            client_name: None,
            client_uri: None,
            grant_types: [GrantType::AuthorizationCode, GrantType::RefreshToken]
                .into_iter()
                .collect::<GrantTypes>(),
            metadata: Default::default(),
            created_at: admin.clock.now(),
        });
    }
    let browser = BrowserSession {
        id: ulid::Ulid::new(),
        user_id: alice.id,
        created_at: admin.clock.now(),
        finished_at: None,
        user_agent: None,
        last_active_at: None,
        last_active_ip: None,
    };
    let session = |client: &OAuth2Client, user, user_session, scope: &str| OAuth2Session {
        id: ulid::Ulid::new(),
        client_id: client.id,
        user_id: user,
        user_session_id: user_session,
        scope: Scope::parse(scope).unwrap(),
        created_at: admin.clock.now(),
        finished_at: None,
        last_active_at: None,
        last_active_ip: None,
        user_agent: None,
        human_name: None,
    };
    let sessions = [
        session(
            &clients[0],
            Some(alice.id),
            Some(browser.id),
            "openid urn:matrix:client:api:*",
        ),
        session(&clients[1], Some(alice.id), None, "openid"),
        session(&clients[1], None, None, "urn:mas:admin"),
    ];
    let mut repo = admin.store().repo().await.unwrap();
    for client in &clients {
        repo.oauth2_clients().upsert(client).await.unwrap();
    }
    repo.browser_sessions().add(&browser).await.unwrap();
    for session in &sessions {
        repo.oauth2_sessions().add(session).await.unwrap();
    }
    repo.save().await.unwrap();

    let base = "/api/admin/v1/oauth2-sessions";
    let count = |query: String| {
        let admin = &admin;
        async move {
            let (status, list) = admin.get(&format!("{base}?{query}")).await;
            assert_eq!(status, 200, "{query}: {list}");
            list["meta"]["count"].as_u64().unwrap()
        }
    };
    assert_eq!(count(String::new()).await, 3);
    assert_eq!(count(format!("filter[user]={}", alice.id)).await, 2);
    assert_eq!(count(format!("filter[client]={}", clients[1].id)).await, 2);
    assert_eq!(count("filter[client-kind]=static".to_owned()).await, 1);
    assert_eq!(count("filter[client-kind]=dynamic".to_owned()).await, 2);
    assert_eq!(
        count(format!("filter[user-session]={}", browser.id)).await,
        1
    );
    assert_eq!(count("filter[scope]=openid".to_owned()).await, 2);
    assert_eq!(
        count("filter[scope]=urn:matrix:client:api:*".to_owned()).await,
        1
    );

    let path = format!("{base}/{}", sessions[2].id);
    let (status, got) = admin.get(&path).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["data"]["type"], "oauth2-session");
    assert!(got["data"]["attributes"]["user_id"].is_null());
    assert_eq!(got["data"]["attributes"]["scope"], "urn:mas:admin");
    assert_eq!(
        got["data"]["attributes"]["client_id"],
        clients[1].id.to_string()
    );
    let (status, finished) = admin.post_empty(&format!("{path}/finish")).await;
    assert_eq!(status, 200, "{finished}");
    assert!(finished["data"]["attributes"]["finished_at"].is_string());
    assert_eq!(admin.post_empty(&format!("{path}/finish")).await.0, 409);
    assert_eq!(count("filter[status]=finished".to_owned()).await, 1);
    assert_eq!(count("filter[status]=active".to_owned()).await, 2);
    let unknown = format!("{base}/{}", ulid::Ulid::new());
    assert_eq!(admin.get(&unknown).await.0, 404);
    assert_eq!(admin.post_empty(&format!("{unknown}/finish")).await.0, 404);
}

on_both_backends!(
    user_sessions_list_get_finish,
    oauth2_sessions_list_get_finish
);

//! `/oauth2-clients`: list with filters, get.

use gatehouse::domain::{
    Clock,
    oauth2_clients::{GrantType, GrantTypes, OAuth2Client, TokenEndpointAuthMethod},
};

use super::Admin;
use crate::{common::TestDb, on_both_backends};

fn client(admin: &Admin, name: &str, is_static: bool, client_credentials: bool) -> OAuth2Client {
    OAuth2Client {
        id: ulid::Ulid::new(),
        is_static,
        encrypted_client_secret: client_credentials.then(|| "sealed".to_owned()),
        token_endpoint_auth_method: Some(if client_credentials {
            TokenEndpointAuthMethod::ClientSecretBasic
        } else {
            TokenEndpointAuthMethod::None
        }),
        jwks: None,
        jwks_uri: None,
        redirect_uris: vec![
            format!("https://{name}.example.org/callback")
                .parse()
                .unwrap(),
        ],
        client_name: Some(name.to_owned()),
        client_uri: Some(format!("https://{name}.example.org/")),
        grant_types: GrantTypes::empty()
            .with(GrantType::AuthorizationCode, !client_credentials)
            .with(GrantType::RefreshToken, !client_credentials)
            .with(GrantType::ClientCredentials, client_credentials),
        metadata: Default::default(),
        created_at: admin.clock.now(),
    }
}

async fn oauth2_clients_list_get(db: TestDb) {
    let admin = Admin::new(db).await;
    let element = client(&admin, "element", true, false);
    let robot = client(&admin, "robot", false, true);
    let mut repo = admin.store().repo().await.unwrap();
    repo.oauth2_clients().upsert(&element).await.unwrap();
    repo.oauth2_clients().upsert(&robot).await.unwrap();
    repo.save().await.unwrap();

    let (status, list) = admin.get("/api/admin/v1/oauth2-clients").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["meta"]["count"], 2);
    let count = |query: &'static str| {
        let admin = &admin;
        async move {
            let (status, list) = admin
                .get(&format!("/api/admin/v1/oauth2-clients?{query}"))
                .await;
            assert_eq!(status, 200, "{query}: {list}");
            list["meta"]["count"].as_u64().unwrap()
        }
    };
    assert_eq!(count("filter[client-kind]=static").await, 1);
    assert_eq!(count("filter[client-kind]=dynamic").await, 1);
    assert_eq!(count("filter[client-name]=lem").await, 1);
    assert_eq!(count("filter[client-name]=%25").await, 0);
    assert_eq!(
        count("filter[client-uri]=https%3A%2F%2Frobot.example.org%2F").await,
        1
    );
    assert_eq!(count("filter[grant-type]=client_credentials").await, 1);
    assert_eq!(count("filter[grant-type]=authorization_code").await, 1);
    assert_eq!(
        count("filter[grant-type]=urn:ietf:params:oauth:grant-type:device_code").await,
        0
    );
    assert_eq!(
        admin
            .get("/api/admin/v1/oauth2-clients?filter[grant-type]=password")
            .await
            .0,
        400
    );

    let path = format!("/api/admin/v1/oauth2-clients/{}", robot.id);
    let (status, got) = admin.get(&path).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["data"]["type"], "oauth2-client");
    let attributes = &got["data"]["attributes"];
    assert_eq!(attributes["client_id"], robot.id.to_string());
    assert_eq!(attributes["client_name"], "robot");
    assert_eq!(attributes["is_static"], false);
    assert_eq!(attributes["has_client_secret"], true);
    assert_eq!(
        attributes["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert!(attributes.get("encrypted_client_secret").is_none());
    assert_eq!(
        admin
            .get(&format!(
                "/api/admin/v1/oauth2-clients/{}",
                ulid::Ulid::new()
            ))
            .await
            .0,
        404
    );
}

on_both_backends!(oauth2_clients_list_get);

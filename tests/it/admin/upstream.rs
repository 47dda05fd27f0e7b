//! `/upstream-oauth-providers` (list with filters, get) and `/upstream-oauth-links` (add, list
//! with filters, get, delete), with their errors.

use gatehouse::domain::{
    Clock,
    oauth2_clients::TokenEndpointAuthMethod,
    scopes::Scope,
    upstream::{UpstreamAuthMethod, UpstreamProvider},
};
use poem::http::Method;
use serde_json::json;

use super::{Admin, title};
use crate::{common::TestDb, on_both_backends};

fn provider(admin: &Admin, name: &str, enabled: bool) -> UpstreamProvider {
    UpstreamProvider {
        id: ulid::Ulid::new(),
        issuer: Some(format!("https://{name}.example.org/")),
        human_name: Some(name.to_owned()),
        brand_name: Some(name.to_lowercase()),
        synapse_idp_id: Some(format!("oidc-{name}")),
        client_id: format!("{name}-client"),
        encrypted_client_secret: Some("sealed-secret".to_owned()),
        token_endpoint_auth_method: UpstreamAuthMethod::Standard(
            TokenEndpointAuthMethod::ClientSecretBasic,
        ),
        scope: Scope::parse("openid").unwrap(),
        ui_order: 0,
        config: json!({}),
        created_at: admin.clock.now(),
        disabled_at: (!enabled).then(|| admin.clock.now()),
    }
}

async fn insert_providers(admin: &Admin) -> (UpstreamProvider, UpstreamProvider) {
    let google = provider(admin, "Google", true);
    let old = provider(admin, "Old", false);
    let mut repo = admin.store().repo().await.unwrap();
    repo.upstream().upsert_provider(&google).await.unwrap();
    repo.upstream().upsert_provider(&old).await.unwrap();
    repo.save().await.unwrap();
    (google, old)
}

async fn upstream_oauth_providers_list_get(db: TestDb) {
    let admin = Admin::new(db).await;
    let (google, old) = insert_providers(&admin).await;

    let (status, list) = admin.get("/api/admin/v1/upstream-oauth-providers").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["meta"]["count"], 2);
    assert_eq!(list["data"][0]["type"], "upstream-oauth-provider");
    assert!(!list.to_string().contains("sealed-secret"), "{list}");
    assert!(!list.to_string().contains("client_secret"), "{list}");

    let (_, list) = admin
        .get("/api/admin/v1/upstream-oauth-providers?filter[enabled]=true")
        .await;
    assert_eq!(list["meta"]["count"], 1);
    assert_eq!(list["data"][0]["id"], google.id.to_string());
    assert_eq!(list["data"][0]["attributes"]["disabled_at"], json!(null));
    assert!(
        list["links"]["self"]
            .as_str()
            .unwrap()
            .contains("filter[enabled]=true")
    );
    let (_, list) = admin
        .get("/api/admin/v1/upstream-oauth-providers?filter[enabled]=false")
        .await;
    assert_eq!(list["meta"]["count"], 1);
    assert_eq!(list["data"][0]["id"], old.id.to_string());
    assert!(list["data"][0]["attributes"]["disabled_at"].is_string());
    assert_eq!(
        admin
            .get("/api/admin/v1/upstream-oauth-providers?filter[enabled]=maybe")
            .await
            .0,
        400
    );

    // Pagination and count modes.
    let (_, page) = admin
        .get("/api/admin/v1/upstream-oauth-providers?page[first]=1")
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert!(page["links"]["next"].is_string(), "{page}");
    let (_, only) = admin
        .get("/api/admin/v1/upstream-oauth-providers?count=only")
        .await;
    assert_eq!(only["meta"]["count"], 2);
    assert!(only.get("data").is_none(), "{only}");
    let (_, none) = admin
        .get("/api/admin/v1/upstream-oauth-providers?count=false")
        .await;
    assert!(none.get("meta").is_none(), "{none}");
    assert_eq!(none["data"].as_array().unwrap().len(), 2);

    // Get, and 404.
    let path = format!("/api/admin/v1/upstream-oauth-providers/{}", google.id);
    let (status, got) = admin.get(&path).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["links"]["self"], path);
    let attributes = &got["data"]["attributes"];
    assert_eq!(attributes["issuer"], "https://Google.example.org/");
    assert_eq!(attributes["human_name"], "Google");
    assert_eq!(attributes["brand_name"], "google");
    assert!(attributes["created_at"].is_string());
    assert!(!got.to_string().contains("sealed-secret"));
    let (status, body) = admin
        .get(&format!(
            "/api/admin/v1/upstream-oauth-providers/{}",
            ulid::Ulid::new()
        ))
        .await;
    assert_eq!(status, 404);
    assert!(title(&body).contains("not found"));

    // Without a token.
    let (status, _) = admin
        .call_as(
            None,
            Method::GET,
            "/api/admin/v1/upstream-oauth-providers",
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = admin.call_as(None, Method::GET, &path, None).await;
    assert_eq!(status, 401);
}

async fn upstream_oauth_links_add_list_get_delete(db: TestDb) {
    let admin = Admin::new(db).await;
    let (google, old) = insert_providers(&admin).await;
    let alice = admin.register("alice", false).await;
    let bob = admin.register("bob", false).await;

    let (status, added) = admin
        .post(
            "/api/admin/v1/upstream-oauth-links",
            json!({
                "user_id": alice.id.to_string(),
                "provider_id": google.id.to_string(),
                "subject": "alice-sub",
                "human_account_name": "alice@gmail.example",
            }),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["data"]["type"], "upstream-oauth-link");
    let attributes = &added["data"]["attributes"];
    assert_eq!(attributes["user_id"], alice.id.to_string());
    assert_eq!(attributes["provider_id"], google.id.to_string());
    assert_eq!(attributes["subject"], "alice-sub");
    assert_eq!(attributes["human_account_name"], "alice@gmail.example");
    assert!(attributes["created_at"].is_string());
    let id = added["data"]["id"].as_str().unwrap().to_owned();

    let (status, added) = admin
        .post(
            "/api/admin/v1/upstream-oauth-links",
            json!({
                "user_id": bob.id.to_string(),
                "provider_id": old.id.to_string(),
                "subject": "bob-sub",
            }),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(
        added["data"]["attributes"]["human_account_name"],
        json!(null)
    );

    // Errors: the subject is taken, unknown user, unknown provider, malformed body, no token.
    let (status, body) = admin
        .post(
            "/api/admin/v1/upstream-oauth-links",
            json!({
                "user_id": bob.id.to_string(),
                "provider_id": google.id.to_string(),
                "subject": "alice-sub",
            }),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(title(&body).contains("already exists"));
    let (status, body) = admin
        .post(
            "/api/admin/v1/upstream-oauth-links",
            json!({
                "user_id": ulid::Ulid::new().to_string(),
                "provider_id": google.id.to_string(),
                "subject": "x",
            }),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(title(&body).contains("User"));
    let (status, body) = admin
        .post(
            "/api/admin/v1/upstream-oauth-links",
            json!({
                "user_id": alice.id.to_string(),
                "provider_id": ulid::Ulid::new().to_string(),
                "subject": "x",
            }),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(title(&body).contains("provider"));
    let (status, _) = admin
        .post(
            "/api/admin/v1/upstream-oauth-links",
            json!({"user_id": alice.id.to_string(), "subject": "x"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = admin
        .call_as(
            None,
            Method::POST,
            "/api/admin/v1/upstream-oauth-links",
            Some(json!({
                "user_id": alice.id.to_string(),
                "provider_id": google.id.to_string(),
                "subject": "y",
            })),
        )
        .await;
    assert_eq!(status, 401);

    // List and filters.
    let (status, list) = admin.get("/api/admin/v1/upstream-oauth-links").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["meta"]["count"], 2);
    let count = |query: String| {
        let admin = &admin;
        async move {
            let (status, list) = admin
                .get(&format!("/api/admin/v1/upstream-oauth-links?{query}"))
                .await;
            assert_eq!(status, 200, "{query}: {list}");
            list["meta"]["count"].as_u64().unwrap()
        }
    };
    assert_eq!(count(format!("filter[user]={}", alice.id)).await, 1);
    assert_eq!(count(format!("filter[provider]={}", old.id)).await, 1);
    assert_eq!(count("filter[subject]=bob-sub".to_owned()).await, 1);
    assert_eq!(count("filter[subject]=nobody".to_owned()).await, 0);
    assert_eq!(
        count("filter[human-account-name]=alice%40gmail.example".to_owned()).await,
        1
    );
    assert_eq!(
        count(format!(
            "filter[user]={}&filter[provider]={}",
            alice.id, old.id
        ))
        .await,
        0
    );
    let (_, list) = admin
        .get(&format!(
            "/api/admin/v1/upstream-oauth-links?filter[user]={}",
            bob.id
        ))
        .await;
    assert_eq!(list["data"][0]["attributes"]["subject"], "bob-sub");
    assert!(
        list["links"]["self"]
            .as_str()
            .unwrap()
            .contains(&format!("filter[user]={}", bob.id))
    );
    assert_eq!(
        admin
            .get("/api/admin/v1/upstream-oauth-links?filter[user]=nope")
            .await
            .0,
        400
    );

    // Get, delete, then 404s.
    let path = format!("/api/admin/v1/upstream-oauth-links/{id}");
    let (status, got) = admin.get(&path).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["links"]["self"], path);
    assert_eq!(got["data"]["attributes"]["subject"], "alice-sub");
    let (status, _) = admin.call_as(None, Method::DELETE, &path, None).await;
    assert_eq!(status, 401);
    let (status, _) = admin.delete(&path).await;
    assert_eq!(status, 204);
    let (status, body) = admin.get(&path).await;
    assert_eq!(status, 404);
    assert!(title(&body).contains("not found"));
    let (status, _) = admin.delete(&path).await;
    assert_eq!(status, 404);
    let (_, list) = admin.get("/api/admin/v1/upstream-oauth-links").await;
    assert_eq!(list["meta"]["count"], 1);

    // The subject can be linked again once the link is gone.
    let (status, body) = admin
        .post(
            "/api/admin/v1/upstream-oauth-links",
            json!({
                "user_id": bob.id.to_string(),
                "provider_id": google.id.to_string(),
                "subject": "alice-sub",
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

on_both_backends!(upstream_oauth_providers_list_get);
on_both_backends!(upstream_oauth_links_add_list_get_delete);

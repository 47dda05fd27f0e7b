//! The admin API (`/api/admin/v1`) in process: the listener's real routes over a test database,
//! a test clock, and an admin personal token. One module per resource.

mod auth;
mod cli;
mod devices_and_bulk;
mod emails_and_sessions;
mod oauth2_clients;
mod parity;
mod personal_sessions;
mod policy_data;
mod registration_tokens;
mod synapse_admin;
mod upstream;
mod user_and_oauth2_sessions;
mod users;
mod users_csv;

use std::sync::Arc;

use gatehouse::{
    config::{ListenerConfig, Resource, RootConfig},
    crypto::passwords::{PasswordAlgorithm, PasswordHasher, PasswordScheme},
    domain::MockClock,
    domain::scopes::Scope,
    http::{AppState, listener_routes},
    services::accounts::{self, PersonalTokenRequest, Registration},
    store::Store,
};
use poem::{Endpoint, Request, endpoint::BoxEndpoint, http::Method};
use serde_json::Value;

use crate::common::TestDb;

pub struct Admin {
    pub state: AppState,
    pub clock: MockClock,
    app: BoxEndpoint<'static>,
    /// A personal token of the `root` admin with `urn:mas:admin`.
    pub token: String,
    _db: TestDb,
}

pub fn hasher() -> PasswordHasher {
    PasswordHasher::new(
        vec![PasswordScheme {
            version: 1,
            algorithm: PasswordAlgorithm::Bcrypt { cost: 4 },
            pepper: None,
            unicode_normalization: true,
        }],
        0,
    )
    .expect("hasher")
}

impl Admin {
    pub async fn new(db: TestDb) -> Admin {
        let store = db.store().await;
        let clock = MockClock::default();
        let mut config: RootConfig = crate::harness::test_config(&db);
        config.matrix.homeserver = "example.org".to_owned();
        let keystore = config.keystore().expect("keystore");
        let state = AppState::new(
            store,
            config,
            Arc::new(clock.clone()),
            gatehouse::domain::RandomSource::seeded(1),
            hasher(),
            keystore,
        )
        .expect("state");
        let listener = ListenerConfig {
            name: "admin".into(),
            resources: vec![Resource::AdminApi],
            prefix: None,
            binds: Vec::new(),
            proxy_protocol: false,
            tls: None,
        };
        let app = listener_routes(&listener, &state);
        let mut admin = Admin {
            state,
            clock,
            app,
            token: String::new(),
            _db: db,
        };
        admin.register("root", true).await;
        admin.token = admin.personal_token("root", &["urn:mas:admin"]).await;
        admin
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub async fn register(&self, username: &str, admin: bool) -> gatehouse::domain::users::User {
        accounts::register_user(
            &self.state.store,
            &self.clock,
            &self.state.passwords,
            Registration {
                username: username.to_owned(),
                admin,
                ..Registration::default()
            },
        )
        .await
        .expect("register user")
    }

    /// The user named `username`.
    pub async fn user(&self, username: &str) -> gatehouse::domain::users::User {
        accounts::find_user(&self.state.store, username)
            .await
            .expect("user")
    }

    pub async fn personal_token(&self, username: &str, scopes: &[&str]) -> String {
        let user = self.user(username).await;
        accounts::issue_personal_token(
            &self.state.store,
            &self.clock,
            &mut self.state.random.rng(),
            PersonalTokenRequest {
                actor_user_id: user.id,
                owner_user_id: None,
                human_name: "test".to_owned(),
                scope: Scope::from_tokens(scopes).expect("scope"),
                expires_in: None,
            },
        )
        .await
        .expect("personal token")
        .access_token
    }

    /// Call with an explicit token (or none); answers the status and the JSON body (`Null`
    /// when empty or not JSON).
    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri_str(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(body.to_string()),
            None => request.finish(),
        };
        let response = self.app.get_response(request).await;
        let status = response.status().as_u16();
        let bytes = response.into_body().into_vec().await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    /// Call with the admin token and a raw body of `content_type`; answers the status, the
    /// content type and the body text.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (u16, String, String) {
        let mut request = Request::builder()
            .method(method)
            .uri_str(path)
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = self.app.get_response(request.body(body.to_owned())).await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.into_body().into_string().await.expect("body");
        (status, content_type, text)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call_as(Some(&self.token.clone()), Method::GET, path, None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call_as(Some(&self.token.clone()), Method::POST, path, Some(body))
            .await
    }

    /// POST without a body.
    pub async fn post_empty(&self, path: &str) -> (u16, Value) {
        self.call_as(Some(&self.token.clone()), Method::POST, path, None)
            .await
    }

    #[allow(dead_code)]
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call_as(Some(&self.token.clone()), Method::PUT, path, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call_as(Some(&self.token.clone()), Method::DELETE, path, None)
            .await
    }
}

/// The single error title of an error body.
pub fn title(body: &Value) -> &str {
    body["errors"][0]["title"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

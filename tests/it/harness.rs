//! An in-process Gatehouse on a random loopback port over a test database, with a test clock
//! and on-demand job runs, so that tests read as user stories.

#![allow(dead_code)]

use std::sync::Arc;

use gatehouse::{
    config::RootConfig,
    domain::{MockClock, users::User},
    http::{self, AppState},
    jobs::Worker,
    services::accounts::{self, Registration},
    store::Store,
};

use crate::common::TestDb;

pub struct TestServer {
    pub url: String,
    pub state: AppState,
    pub clock: MockClock,
    pub store: Store,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The config every in-process test starts from: fresh secrets, cheap password schemes (v1
/// bcrypt as Synapse makes it, v2 argon2id), generous rate limits, one listener with every
/// resource on 127.0.0.1:0, and no homeserver (read-only mode: writes are skipped).
pub fn test_config(db: &TestDb) -> RootConfig {
    let mut config =
        gatehouse::config::generate(&mut gatehouse::domain::RandomSource::System.rng())
            .expect("generate config");
    let overlay = format!(
        r#"
database:
  uri: {uri:?}
  max_connections: 8
passwords:
  minimum_complexity: 0
  schemes:
    - {{version: 1, algorithm: bcrypt, cost: 4, unicode_normalization: true, secret: pepper}}
    - {{version: 2, algorithm: argon2id}}
matrix:
  kind: synapse_read_only
  homeserver: example.test
  endpoint: http://127.0.0.1:9/
  secret: shared-secret-for-tests
rate_limiting:
  login:
    per_ip: {{burst: 1000, per_second: 1000}}
    per_account: {{burst: 1000, per_second: 1000}}
  client_registration: {{burst: 1000, per_second: 1000}}
http:
  listeners:
    - name: test
      resources: [{{name: discovery}}, {{name: oauth}}, {{name: compat}}, {{name: human}}, {{name: health}}]
      binds: [{{address: "127.0.0.1:0"}}]
"#,
        uri = db.config_uri()
    );
    let mut value = serde_yaml_ng::to_value(&config).expect("config to YAML");
    let overlay: serde_yaml_ng::Value = serde_yaml_ng::from_str(&overlay).expect("overlay YAML");
    for (key, section) in overlay.as_mapping().expect("mapping") {
        for (k, v) in section.as_mapping().expect("section") {
            value[key.clone()][k.clone()] = v.clone();
        }
    }
    config = serde_yaml_ng::from_value(value).expect("config from YAML");
    config
}

impl TestServer {
    pub async fn start(db: &TestDb) -> TestServer {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: &TestDb, tweak: impl FnOnce(&mut RootConfig)) -> TestServer {
        gatehouse::crypto::install_tls_provider();
        let mut config = test_config(db);
        tweak(&mut config);
        let store = db.store().await;
        let listeners = http::bind_listeners(&config.http.listeners)
            .await
            .expect("bind");
        let url = listeners[0].urls[0].clone();
        config.http.public_base = format!("{url}/").parse().expect("public base");
        // Starts at the real time: the CLI (system clock) and this server share the job queue.
        let real = gatehouse::domain::Clock::now(&gatehouse::domain::SystemClock).timestamp();
        let clock = MockClock::at(chrono::DateTime::from_timestamp(real, 0).expect("now"));
        let state =
            AppState::from_config(store.clone(), config, Arc::new(clock.clone())).expect("state");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        let task = tokio::spawn(async move {
            let _ = http::serve(
                listeners,
                serving,
                async {
                    let _ = stopped.await;
                },
                std::time::Duration::from_secs(1),
            )
            .await;
        });
        TestServer {
            url,
            state,
            clock,
            store,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Register a user with a password, as the CLI and the admin API do.
    pub async fn register_user(&self, username: &str, password: &str) -> User {
        accounts::register_user(
            &self.store,
            &self.clock,
            &self.state.passwords,
            Registration {
                username: username.into(),
                password: Some(password.into()),
                ..Registration::default()
            },
        )
        .await
        .expect("register")
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// Run every due job now. The test clock first catches up with the real one, since jobs
    /// queued by the CLI are stamped with the real time.
    pub async fn run_jobs(&self) -> usize {
        let real = gatehouse::domain::Clock::now(&gatehouse::domain::SystemClock);
        let behind = real - gatehouse::domain::Clock::now(&self.clock);
        if behind > chrono::Duration::zero() {
            self.clock.advance(behind);
        }
        let worker = Worker::new(
            self.store.clone(),
            self.state.synapse.clone(),
            Arc::new(self.clock.clone()),
        );
        worker.run_pending().await.expect("run jobs")
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// POST JSON, returning status and JSON body.
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(self.at(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Introspect as Synapse does.
    pub async fn introspect(&self, token: &str, device_header: bool) -> serde_json::Value {
        let mut request = self
            .http
            .post(self.at("/oauth2/introspect"))
            .bearer_auth(self.state.matrix_secret.as_ref())
            .form(&[("token", token), ("token_type_hint", "access_token")]);
        if device_header {
            request = request.header("X-MAS-Supports-Device-Id", "1");
        }
        let response = request.send().await.expect("introspect");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }
}

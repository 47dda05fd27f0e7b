//! End to end with a real Synapse delegating auth to Gatehouse (`matrix_authentication_service`),
//! on SQLite (Gatehouse and Synapse both) and on PostgreSQL (both).

use std::process::Output;

use chrono::Duration;
use gatehouse::{
    config::HomeserverKind,
    services::accounts::{self, Registration},
};
use serde_json::{Value, json};

use crate::{
    cli::binary,
    common::TestDb,
    harness::TestServer,
    on_both_backends,
    synapse::{Proxy, SERVER_NAME, SHARED_SECRET, Synapse, synapse_python},
};

const PASSWORD: &str = "e2e correct horse battery staple";

struct Setup {
    gatehouse: TestServer,
    synapse: Synapse,
    proxy: Proxy,
    config_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn setup(db: &TestDb, python: std::path::PathBuf) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (proxy_listener, proxy_url) = Proxy::bind().await;
    let endpoint = format!("{proxy_url}/");
    let gatehouse = TestServer::start_with(db, |config| {
        config.matrix.kind = HomeserverKind::Synapse;
        config.matrix.homeserver = SERVER_NAME.into();
        config.matrix.secret = Some(SHARED_SECRET.into());
        config.matrix.endpoint = endpoint.parse().unwrap();
    })
    .await;
    let synapse = Synapse::start(
        python,
        dir.path(),
        db.backend,
        &format!("{}/", gatehouse.url),
    )
    .await;
    let proxy = Proxy::start(
        proxy_listener,
        proxy_url,
        gatehouse.url.clone(),
        synapse.url.clone(),
    );
    // The same configuration as a file, for the CLI verbs.
    let config_file = dir.path().join("gatehouse.yaml");
    std::fs::write(
        &config_file,
        gatehouse::config::to_yaml(&gatehouse.state.config).unwrap(),
    )
    .unwrap();
    Setup {
        gatehouse,
        synapse,
        proxy,
        config_file,
        _dir: dir,
    }
}

impl Setup {
    fn cli(&self, args: &[&str]) -> Output {
        binary()
            .arg("-c")
            .arg(&self.config_file)
            .args(args)
            .output()
            .unwrap()
    }

    fn cli_ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "gatehouse {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A Matrix client request through the proxy.
    async fn client(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .gatehouse
            .http
            .request(method, format!("{}{path}", self.proxy.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn whoami(&self, token: &str) -> (u16, Value) {
        self.client(
            reqwest::Method::GET,
            "/_matrix/client/v3/account/whoami",
            Some(token),
            None,
        )
        .await
    }

    async fn login(&self, user: &str, device: &str, refresh: bool) -> Value {
        let (status, body) = self
            .client(
                reqwest::Method::POST,
                "/_matrix/client/v3/login",
                None,
                Some(json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                            "password": PASSWORD, "device_id": device, "initial_device_display_name": format!("{device} display"),
                            "refresh_token": refresh})),
            )
            .await;
        assert_eq!(status, 200, "login {user}: {body}");
        body
    }

    /// Synapse's own view of a user, through its MAS API.
    async fn query_user(&self, localpart: &str) -> u16 {
        self.gatehouse
            .http
            .get(format!(
                "{}/_synapse/mas/query_user?localpart={localpart}",
                self.synapse.url
            ))
            .bearer_auth(SHARED_SECRET)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

async fn synapse_delegates_auth_to_gatehouse(db: TestDb) {
    let Some(python) = synapse_python() else {
        return;
    };
    let mut env = setup(&db, python.clone()).await;

    // Synapse passes Gatehouse's discovery document through unchanged, on the stable path
    // and on MSC2965's unstable one. (Its older `auth_issuer` endpoint is gone from Synapse.)
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let answer = http.get(&url).send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, ours) = get(format!(
        "{}/.well-known/openid-configuration",
        env.gatehouse.url
    ))
    .await;
    assert_eq!(status, 200);
    for path in [
        "/_matrix/client/v1/auth_metadata",
        "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata",
    ] {
        let (status, theirs) = get(format!("{}{path}", env.synapse.url)).await;
        assert_eq!(status, 200, "{path}: {theirs}\n{}", env.synapse.log_tail());
        assert_eq!(theirs, ours, "{path}");
    }

    // register-user checks the localpart with Synapse and provisions the user there.
    env.cli_ok(&[
        "manage",
        "register-user",
        "alice",
        "-p",
        PASSWORD,
        "-e",
        "alice@example.org",
        "-y",
        "--ignore-password-complexity",
    ]);
    assert_eq!(env.query_user("alice").await, 404, "not yet provisioned");
    assert!(env.gatehouse.run_jobs().await >= 1);
    assert_eq!(env.query_user("alice").await, 200);
    let taken = env.cli(&["manage", "register-user", "alice", "-y"]);
    assert!(!taken.status.success());

    // Compat password login through Gatehouse; Synapse accepts the token.
    let login = env.login("alice", "ALICEPHONE", false).await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let (status, whoami) = env.whoami(&token).await;
    assert_eq!(status, 200, "{whoami}\n{}", env.synapse.log_tail());
    assert_eq!(whoami["user_id"], "@alice:example.test");
    assert_eq!(whoami["device_id"], "ALICEPHONE");
    let (status, devices) = env
        .client(
            reqwest::Method::GET,
            "/_matrix/client/v3/devices",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let device = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == "ALICEPHONE")
        .cloned();
    assert_eq!(
        device.expect("device listed")["display_name"],
        "ALICEPHONE display"
    );

    // Logout makes whoami fail at once (the device is gone from Synapse).
    let (status, _) = env
        .client(
            reqwest::Method::POST,
            "/_matrix/client/v3/logout",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = env.whoami(&token).await;
    assert_eq!(status, 401);

    // Refresh rotates the pair; the old access token stops working.
    let login = env.login("alice", "ALICELAPTOP", true).await;
    let old = login["access_token"].as_str().unwrap().to_owned();
    let (status, refreshed) = env
        .client(
            reqwest::Method::POST,
            "/_matrix/client/v3/refresh",
            None,
            Some(json!({"refresh_token": login["refresh_token"]})),
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let new = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(env.whoami(&new).await.0, 200);
    assert_eq!(
        env.whoami(&old).await.0,
        401,
        "the refreshed-away token is rejected by Synapse"
    );

    // An admin's compat token with Synapse admin rights can call Synapse's admin API.
    env.cli_ok(&[
        "manage",
        "register-user",
        "root",
        "-p",
        PASSWORD,
        "-a",
        "-y",
        "--ignore-password-complexity",
    ]);
    env.gatehouse.run_jobs().await;
    let admin = env.cli_ok(&[
        "manage",
        "issue-compatibility-token",
        "root",
        "--yes-i-want-to-grant-synapse-admin-privileges",
    ]);
    let admin = admin.trim().to_owned();
    let (status, users) = env
        .client(
            reqwest::Method::GET,
            "/_synapse/admin/v2/users?from=0&limit=10&guests=false",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{users}");
    assert!(
        users["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "@alice:example.test")
    );
    let plain = env.cli_ok(&["manage", "issue-compatibility-token", "root"]);
    let (status, _) = env
        .client(
            reqwest::Method::GET,
            "/_synapse/admin/v2/users?from=0&limit=10&guests=false",
            Some(plain.trim()),
            None,
        )
        .await;
    assert_eq!(status, 403, "without the admin scope Synapse refuses");

    // lock-user: tokens become inactive, and Synapse sees the user locked.
    let fresh = env.login("alice", "ALICETABLET", false).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    env.cli_ok(&["manage", "lock-user", "alice"]);
    assert_eq!(
        env.gatehouse.introspect(&fresh, true).await,
        json!({"active": false})
    );
    assert_eq!(env.whoami(&fresh).await.0, 401);
    env.gatehouse.run_jobs().await;
    let (status, alice) = env
        .client(
            reqwest::Method::GET,
            "/_synapse/admin/v2/users/@alice:example.test",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(alice["locked"], true, "{alice}");
    env.cli_ok(&["manage", "unlock-user", "alice"]);
    env.gatehouse.run_jobs().await;

    // A legacy client library, unchanged, through the proxy.
    let nio = std::process::Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/synapse/nio_client.py"
        ))
        .args([env.proxy.url.as_str(), "alice", PASSWORD])
        .output()
        .unwrap();
    assert!(
        nio.status.success(),
        "matrix-nio: {}{}",
        String::from_utf8_lossy(&nio.stdout),
        String::from_utf8_lossy(&nio.stderr)
    );

    // doctor passes against this setup...
    let doctor = env.cli(&["doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(doctor.status.success(), "doctor failed:\n{report}");
    assert!(
        report.contains("✅ shared secret") && report.contains("✅ compat routing"),
        "{report}"
    );

    // ...and a Synapse that is down delays work without losing it.
    env.synapse.stop();
    let doctor = env.cli(&["doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(!doctor.status.success());
    assert!(report.contains("❌ homeserver reachable"), "{report}");
    accounts::register_user(
        &env.gatehouse.store,
        &env.gatehouse.clock,
        &env.gatehouse.state.passwords,
        Registration {
            username: "bob".into(),
            password: Some(PASSWORD.into()),
            ..Registration::default()
        },
    )
    .await
    .unwrap();
    assert!(
        env.gatehouse.run_jobs().await >= 1,
        "the provision job was tried"
    );
    let health = env
        .gatehouse
        .http
        .get(env.gatehouse.at("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the server keeps answering");
    env.synapse.restart().await;
    assert_eq!(env.query_user("bob").await, 404);
    env.gatehouse.clock.advance(Duration::seconds(10));
    env.gatehouse.run_jobs().await;
    assert_eq!(
        env.query_user("bob").await,
        200,
        "the queued job completed after Synapse came back"
    );
    let login = env.login("bob", "BOBPHONE", false).await;
    assert_eq!(
        env.whoami(login["access_token"].as_str().unwrap()).await.0,
        200
    );

    env.gatehouse.stop().await;
}

on_both_backends!(synapse_delegates_auth_to_gatehouse);

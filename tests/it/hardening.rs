//! Regression tests for what an attacker found on the server (the Hardening issue), on both
//! backends. Each drives the server as an attacker would: over HTTP, with the CLI an admin runs.

use std::time::{Duration, Instant};

use gatehouse::{
    config::{InactiveSessionExpirationConfig, Resource},
    domain::scopes::Scope,
    services::accounts::{self, Registration},
};
use serde_json::{Value, json};

use crate::{browser::Browser, cli::binary, common::TestDb, harness::TestServer, on_both_backends};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A server with the admin API too, and its configuration as a file for the CLI.
pub(crate) struct Setup {
    pub server: TestServer,
    config_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Setup {
    pub(crate) async fn start(db: &TestDb) -> Setup {
        Self::start_with(db, |_| {}).await
    }

    pub(crate) async fn start_with(
        db: &TestDb,
        tweak: impl FnOnce(&mut gatehouse::config::RootConfig),
    ) -> Setup {
        let server = TestServer::start_with(db, |config| {
            config.http.listeners[0].resources.push(Resource::AdminApi);
            tweak(config);
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let config_file = dir.path().join("config.yaml");
        std::fs::write(
            &config_file,
            gatehouse::config::to_yaml(&server.state.config).unwrap(),
        )
        .unwrap();
        Setup {
            server,
            config_file,
            _dir: dir,
        }
    }

    /// Run `gatehouse -c <config> args…`, which must succeed; its stdout, trimmed.
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        let output = binary()
            .arg("-c")
            .arg(&self.config_file)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "gatehouse {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    pub(crate) async fn register(&self, username: &str, admin: bool) {
        accounts::register_user(
            &self.server.store,
            &self.server.clock,
            &self.server.state.passwords,
            Registration {
                username: username.into(),
                password: Some(PASSWORD.into()),
                admin,
                ..Registration::default()
            },
        )
        .await
        .expect("register");
    }

    pub(crate) async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .server
            .http
            .request(method, self.server.at(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn compat_login(&self, user: &str, password: &str) -> (u16, Value) {
        self.server
            .post_json(
                "/_matrix/client/v3/login",
                json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password}),
            )
            .await
    }

    /// Introspect until `ready` holds or 5 s pass (changes made by the CLI, another process,
    /// reach the server's cache within about a second).
    pub(crate) async fn introspect_until(
        &self,
        token: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let answer = self.server.introspect(token, true).await;
            if ready(&answer) || Instant::now() > deadline {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An admin API token for `username` (which may request admin), made by the CLI.
    pub(crate) fn admin_token(&self, username: &str) -> String {
        self.cli(&[
            "manage",
            "issue-personal-token",
            username,
            "--scope",
            "urn:mas:admin",
        ])
    }

    /// A compat token with Synapse-admin rights for `username`, made by the CLI.
    pub(crate) fn synapse_admin_token(&self, username: &str) -> String {
        self.cli(&[
            "manage",
            "issue-compatibility-token",
            username,
            "--yes-i-want-to-grant-synapse-admin-privileges",
        ])
    }

    /// The id of `username`, asked of the admin API.
    pub(crate) async fn user_id(&self, admin_token: &str, username: &str) -> String {
        let (status, body) = self
            .request(
                reqwest::Method::GET,
                &format!("/api/admin/v1/users/by-username/{username}"),
                admin_token,
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// Start a compat SSO login and answer the confirmation page's path.
    pub(crate) async fn start_sso(&self, browser: &mut Browser) -> String {
        let start = browser
            .get("/_matrix/client/v3/login/sso/redirect?redirectUrl=https%3A%2F%2Fapp.example%2Fdone")
            .await;
        assert_eq!(start.status, 303);
        let location = start.location().unwrap();
        location
            .strip_prefix(&self.server.url)
            .map(str::to_owned)
            .unwrap_or(location)
    }
}

fn has_scope(answer: &Value, scope: &str) -> bool {
    answer["scope"]
        .as_str()
        .and_then(|scopes| Scope::parse(scopes).ok())
        .is_some_and(|scopes| scopes.contains(scope))
}

/// Defect 1: a demoted admin's old tokens keep Synapse-admin power (and can re-promote).
async fn demoted_admin_loses_admin_power_at_once(db: TestDb) {
    let setup = Setup::start(&db).await;
    setup.register("root", true).await;
    let compat = setup.cli(&[
        "manage",
        "issue-compatibility-token",
        "root",
        "ROOTDEVICE",
        "--yes-i-want-to-grant-synapse-admin-privileges",
    ]);
    let personal = setup.cli(&[
        "manage",
        "issue-personal-token",
        "root",
        "--scope",
        "urn:matrix:client:api:*",
        "--scope",
        "urn:synapse:admin:*",
    ]);
    let mas_admin = setup.cli(&[
        "manage",
        "issue-personal-token",
        "root",
        "--scope",
        "urn:mas:admin",
    ]);
    for token in [&compat, &personal] {
        let (status, _) = setup
            .request(
                reqwest::Method::GET,
                "/_synapse/admin/v2/users",
                token,
                None,
            )
            .await;
        assert_eq!(status, 200, "an admin's token works before the demotion");
        assert!(has_scope(
            &setup.server.introspect(token, true).await,
            "urn:synapse:admin:*"
        ));
    }

    setup.cli(&["manage", "demote-admin", "root"]);

    for token in [&compat, &personal] {
        let answer = setup
            .introspect_until(token, |a| !has_scope(a, "urn:synapse:admin:*"))
            .await;
        assert_eq!(answer["active"], true, "the token still works as a user's");
        assert!(
            !has_scope(&answer, "urn:synapse:admin:*"),
            "Synapse must not see admin rights any more: {answer}"
        );
        let (status, body) = setup
            .request(
                reqwest::Method::GET,
                "/_synapse/admin/v2/users",
                token,
                None,
            )
            .await;
        assert_eq!(status, 403, "{body}");
        let (status, _) = setup
            .request(
                reqwest::Method::PUT,
                "/_synapse/admin/v1/users/@root:example.test/admin",
                token,
                Some(json!({"admin": true})),
            )
            .await;
        assert_eq!(status, 403, "a demoted admin cannot promote itself again");
    }
    let (status, _) = setup
        .request(
            reqwest::Method::GET,
            "/api/admin/v1/users",
            &mas_admin,
            None,
        )
        .await;
    assert_eq!(status, 401);
    let listed = setup.cli(&["manage", "list-admin-users"]);
    assert!(!listed.contains("root"), "{listed}");
}

/// Defect 2: ending a user's sessions leaves the browser signed in, able to mint new compat
/// tokens through SSO.
async fn ending_sessions_ends_browser_sessions(db: TestDb) {
    let setup = Setup::start(&db).await;
    setup.register("alice", false).await;
    setup.register("bob", false).await;
    setup.register("carol", false).await;
    setup.register("root", true).await;
    let admin = setup.cli(&[
        "manage",
        "issue-personal-token",
        "root",
        "--scope",
        "urn:mas:admin",
    ]);
    let synapse_admin = setup.synapse_admin_token("root");
    let base = setup.server.url.clone();
    let mut alice = Browser::new(&base);
    let mut bob = Browser::new(&base);
    let mut carol = Browser::new(&base);
    for (browser, name) in [
        (&mut alice, "alice"),
        (&mut bob, "bob"),
        (&mut carol, "carol"),
    ] {
        assert_eq!(browser.sign_in(name, PASSWORD).await.status, 303);
        assert!(browser.signed_in().await, "{name} is signed in");
    }

    // The CLI's kill-sessions.
    setup.cli(&["manage", "kill-sessions", "alice"]);
    assert!(
        !alice.signed_in().await,
        "kill-sessions ends the browser session"
    );
    let confirm = setup.start_sso(&mut alice).await;
    let page = alice.get(&confirm).await;
    assert_eq!(page.status, 303, "the SSO page asks to sign in again");
    assert!(page.location().unwrap_or_default().contains("login"));

    // A password reset that logs the devices out (Synapse admin API).
    let (status, _) = setup
        .request(
            reqwest::Method::POST,
            "/_synapse/admin/v1/reset_password/@bob:example.test",
            &synapse_admin,
            Some(json!({"new_password": "another long passphrase here", "logout_devices": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        !bob.signed_in().await,
        "a reset with logout ends the browser session"
    );

    // The admin API's bulk kill-sessions.
    let carol_id = setup
        .request(
            reqwest::Method::GET,
            "/api/admin/v1/users/by-username/carol",
            &admin,
            None,
        )
        .await
        .1["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = setup
        .request(
            reqwest::Method::POST,
            "/api/admin/v1/users/bulk",
            &admin,
            Some(json!({"action": "kill-sessions", "user_ids": [carol_id]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !carol.signed_in().await,
        "bulk kill-sessions ends the browser session"
    );

    // Deactivation (admin API).
    let mut again = Browser::new(&base);
    setup.register("dave", false).await;
    assert_eq!(again.sign_in("dave", PASSWORD).await.status, 303);
    let dave_id = setup
        .request(
            reqwest::Method::GET,
            "/api/admin/v1/users/by-username/dave",
            &admin,
            None,
        )
        .await
        .1["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = setup
        .request(
            reqwest::Method::POST,
            &format!("/api/admin/v1/users/{dave_id}/deactivate"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        !again.signed_in().await,
        "deactivation ends the browser session"
    );
}

/// Defect 2: browser sessions end after `inactive_session_expiration.ttl` without use.
async fn idle_browser_sessions_expire(db: TestDb) {
    let setup = Setup::start_with(&db, |config| {
        config.experimental.inactive_session_expiration = Some(InactiveSessionExpirationConfig {
            ttl: 600,
            expire_compat_sessions: false,
            expire_oauth_sessions: false,
            expire_user_sessions: true,
        });
    })
    .await;
    setup.register("alice", false).await;
    let mut browser = Browser::new(&setup.server.url);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status, 303);
    setup.server.clock.advance(chrono::Duration::seconds(500));
    assert!(browser.signed_in().await, "used within the timeout");
    setup.server.clock.advance(chrono::Duration::seconds(500));
    assert!(
        browser.signed_in().await,
        "the use above restarted the timeout"
    );
    setup.server.clock.advance(chrono::Duration::seconds(601));
    assert!(
        !browser.signed_in().await,
        "idle for longer than the timeout"
    );
}

/// Defect 2: browser sessions end at `experimental.user_session_lifetime`, however active.
async fn browser_sessions_end_at_their_lifetime(db: TestDb) {
    let setup = Setup::start_with(&db, |config| {
        config.experimental.user_session_lifetime = 3600;
    })
    .await;
    setup.register("alice", false).await;
    let mut browser = Browser::new(&setup.server.url);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status, 303);
    for _ in 0..3 {
        setup.server.clock.advance(chrono::Duration::minutes(19));
        assert!(browser.signed_in().await, "in use, within the lifetime");
    }
    setup.server.clock.advance(chrono::Duration::minutes(4));
    assert!(!browser.signed_in().await, "past the lifetime");
}

/// Defect 8: SSO logins nobody can complete any more, and ended browser sessions, are swept by
/// the worker's housekeeping.
async fn housekeeping_sweeps_dead_rows(db: TestDb) {
    let setup = Setup::start(&db).await;
    setup.register("alice", false).await;
    let mut browser = Browser::new(&setup.server.url);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status, 303);
    for _ in 0..3 {
        setup.start_sso(&mut browser).await;
    }
    let count = |sql: &'static str| {
        let pool = setup.server.store.pool().clone();
        async move {
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            n
        }
    };
    let housekeeping = gatehouse::services::housekeeping::Housekeeping::new(
        &setup.server.state.config.experimental,
    );
    let swept = housekeeping
        .sweep(&setup.server.store, &setup.server.clock)
        .await
        .unwrap();
    assert_eq!(swept.compat_sso_logins, 0, "fresh logins stay");
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS BIGINT) FROM compat_sso_logins").await,
        3
    );
    setup.server.clock.advance(chrono::Duration::hours(2));
    let swept = housekeeping
        .sweep(&setup.server.store, &setup.server.clock)
        .await
        .unwrap();
    assert_eq!(swept.compat_sso_logins, 3);
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS BIGINT) FROM compat_sso_logins").await,
        0
    );
    setup.server.clock.advance(chrono::Duration::days(8));
    let swept = housekeeping
        .sweep(&setup.server.store, &setup.server.clock)
        .await
        .unwrap();
    assert_eq!(
        swept.browser_sessions, 1,
        "the idle browser session is finished"
    );
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS BIGINT) FROM user_sessions WHERE finished_at IS NULL").await,
        0
    );
}

/// Defect 2: a login token from compat SSO is worthless once the browser session that
/// confirmed it has ended.
async fn sso_exchange_needs_the_browser_session_open(db: TestDb) {
    let setup = Setup::start(&db).await;
    setup.register("alice", false).await;
    let mut browser = Browser::new(&setup.server.url);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status, 303);
    let confirm = setup.start_sso(&mut browser).await;
    let page = browser.get(&confirm).await;
    assert_eq!(page.status, 200);
    let csrf = page.input("csrf").unwrap();
    let done = browser
        .post_form(&confirm, &[("csrf", &csrf), ("action", "continue")])
        .await;
    assert_eq!(done.status, 303);
    let target = url::Url::parse(&done.location().unwrap()).unwrap();
    let login_token = target
        .query_pairs()
        .find(|(k, _)| k == "loginToken")
        .unwrap()
        .1
        .into_owned();
    // Sign out before the app exchanges the token.
    let home = browser.get("/").await;
    let csrf = home.input("csrf").unwrap();
    assert_eq!(
        browser
            .post_form("/logout", &[("csrf", &csrf)])
            .await
            .status,
        303
    );
    let (status, body) = setup
        .server
        .post_json(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.token", "token": login_token}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["errcode"], "M_FORBIDDEN");
}

/// Defect 3: `next` could leave Gatehouse's origin (`/\t/evil.example` became `//evil.example`).
async fn next_never_leaves_the_origin(db: TestDb) {
    let setup = Setup::start(&db).await;
    setup.register("alice", false).await;
    let mut browser = Browser::new(&setup.server.url);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status, 303);
    let origin = url::Url::parse(&setup.server.url).unwrap().origin();
    for next in [
        "/%09/evil.example",
        "/%0a/evil.example",
        "//evil.example",
        "/\\evil.example",
        "%5C%5Cevil.example",
        "https://evil.example/",
        "https:evil.example",
        "javascript:alert(1)",
        "/%2F%2Fevil.example",
        "http://127.0.0.1:1/elsewhere",
    ] {
        let page = browser.get(&format!("/login?next={next}")).await;
        assert_eq!(page.status, 303, "{next}");
        let location = page.location().unwrap();
        // Resolve as a browser does (it drops tabs and newlines, reads `\` as `/`).
        let resolved = url::Url::parse(&setup.server.url)
            .unwrap()
            .join(&location.replace('\\', "/"))
            .unwrap();
        assert_eq!(resolved.origin(), origin, "next={next} went to {location}");
    }
    // Same-origin targets still work.
    let page = browser
        .get("/login?next=/complete-compat-sso/x%3Fa%3Db")
        .await;
    assert!(
        page.location()
            .unwrap()
            .ends_with("/complete-compat-sso/x?a=b")
    );
}

/// Defect 4: pages can be framed, cookies lack `Secure` on https, forms may be cached.
async fn pages_refuse_framing_and_caching(db: TestDb) {
    let setup = Setup::start(&db).await;
    let mut browser = Browser::new(&setup.server.url);
    for path in [
        "/",
        "/login",
        "/.well-known/openid-configuration",
        "/health",
    ] {
        let page = browser.get(path).await;
        assert_eq!(
            page.header("x-frame-options").as_deref(),
            Some("DENY"),
            "{path}"
        );
        assert!(
            page.header("content-security-policy")
                .is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
            "{path}"
        );
        assert_eq!(
            page.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert!(page.header("referrer-policy").is_some(), "{path}");
    }
    let login = browser.get("/login").await;
    assert_eq!(login.header("cache-control").as_deref(), Some("no-store"));
    // Served over http here: no Secure flag (the browser would drop the cookie).
    assert!(login.set_cookies().iter().all(|c| !c.contains("Secure")));

    // Behind https (public_base), every cookie is Secure.
    let mut config = setup.server.state.config.as_ref().clone();
    config.http.public_base = "https://auth.example.test/".parse().unwrap();
    let state = gatehouse::http::AppState::from_config(
        setup.server.store.clone(),
        config.clone(),
        std::sync::Arc::new(setup.server.clock.clone()),
    )
    .unwrap();
    let app = gatehouse::http::listener_routes(&config.http.listeners[0], &state);
    let response =
        poem::Endpoint::get_response(&app, poem::Request::builder().uri_str("/login").finish())
            .await;
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(!cookies.is_empty());
    assert!(cookies.iter().all(|c| c.contains("Secure")), "{cookies:?}");
}

/// Defect 5: a malformed stored password hash made every login of its user a 500.
async fn a_bad_stored_hash_is_a_failed_login(db: TestDb) {
    let setup = Setup::start(&db).await;
    setup.register("alice", false).await;
    setup.register("root", true).await;
    let admin = setup.cli(&[
        "manage",
        "issue-personal-token",
        "root",
        "--scope",
        "urn:mas:admin",
    ]);
    // The CSV import refuses it now…
    let response = setup
        .server
        .http
        .post(setup.server.at("/api/admin/v1/users/import"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body("username,password_hash,password_version\nmallory,$2b$12$nothing-like-a-hash,1\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    // The row is refused by number and column, and nothing of it is written.
    assert_eq!(report["rows"][0]["status"], "error", "{report}");
    assert_eq!(report["rows"][0]["row"], 1, "{report}");
    assert!(
        report["rows"][0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.starts_with("password_hash")),
        "{report}"
    );
    let (status, body) = setup
        .request(
            reqwest::Method::GET,
            "/api/admin/v1/users/by-username/mallory",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 404, "nothing was created: {body}");
    let (status, _) = setup.compat_login("mallory", "anything").await;
    assert_eq!(status, 403);
    // …and one already in the database (from an older import) fails the login, not the server.
    sqlx::query(
        "UPDATE user_passwords SET hashed_password = 'not a hash' WHERE user_id IN
         (SELECT user_id FROM users WHERE username = 'alice')",
    )
    .execute(setup.server.store.pool())
    .await
    .unwrap();
    for _ in 0..2 {
        let (status, body) = setup.compat_login("alice", PASSWORD).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["errcode"], "M_FORBIDDEN");
    }
}

/// Defect 5: an offset or limit beyond what the databases take made the Synapse admin user
/// list a 500; any bad number is a 400 M_INVALID_PARAM.
async fn synapse_admin_list_refuses_bad_numbers(db: TestDb) {
    let setup = Setup::start(&db).await;
    setup.register("root", true).await;
    let token = setup.synapse_admin_token("root");
    let list = |query: &'static str| {
        let setup = &setup;
        let token = &token;
        async move {
            setup
                .request(
                    reqwest::Method::GET,
                    &format!("/_synapse/admin/v2/users?{query}"),
                    token,
                    None,
                )
                .await
        }
    };
    for query in [
        "from=18446744073709551615",
        "from=9223372036854775808",
        "limit=18446744073709551615",
        "limit=9223372036854775808",
        "from=-1",
        "limit=-5",
        "from=ten",
        "limit=1e3",
        "from=",
        "from=1&from=2",
        "limit=%FF",
    ] {
        let (status, body) = list(query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["errcode"], "M_INVALID_PARAM", "{query}: {body}");
    }
    // The largest offset the databases take is an empty page, not an error.
    let (status, body) = list("from=9223372036854775807&limit=9223372036854775807").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["users"], json!([]));
    assert_eq!(body["total"], 1);
}

/// Defect 9: a stored hash asking for absurd work (here argon2 with 1 GiB of memory) must not
/// be computed: it is a failed login, answered quickly.
async fn a_hash_with_absurd_parameters_is_refused(db: TestDb) {
    let setup = Setup::start(&db).await;
    setup.register("alice", false).await;
    sqlx::query(
        "UPDATE user_passwords SET version = 2, hashed_password =
           '$argon2id$v=19$m=1048576,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'
         WHERE user_id IN (SELECT user_id FROM users WHERE username = 'alice')",
    )
    .execute(setup.server.store.pool())
    .await
    .unwrap();
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        setup.compat_login("alice", PASSWORD),
    )
    .await
    .expect("answered without computing a 1 GiB hash");
    assert_eq!(answer.0, 403, "{}", answer.1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Defect 6: IPv6 clients were limited per /128 address.
async fn login_limits_key_ipv6_by_64(db: TestDb) {
    let setup = Setup::start_with(&db, |config| {
        config.rate_limiting.login.per_ip.burst = 2;
        config.rate_limiting.login.per_ip.per_second = 0.001;
    })
    .await;
    setup.register("alice", false).await;
    let mut statuses = Vec::new();
    for address in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"] {
        let response = setup
            .server
            .http
            .post(setup.server.at("/_matrix/client/v3/login"))
            .header("x-forwarded-for", address)
            .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": "wrong"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [403, 403, 429], "one /64 shares one budget");
}

/// A wrong-password compat login from `forwarded` (an `X-Forwarded-For` value) through `http`.
async fn wrong_login(
    http: &reqwest::Client,
    url: &str,
    user: &str,
    forwarded: Option<&str>,
) -> u16 {
    let mut request = http.post(format!("{url}/_matrix/client/v3/login")).json(
        &json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": "wrong"}),
    );
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Defect 6: an identifier longer than any user ID was the per-account limiter's key, raw.
/// Now it is refused before the limiter (and the lookup) with the usual failure answer.
async fn overlong_identifiers_never_reach_the_limiter(db: TestDb) {
    let setup = Setup::start_with(&db, |config| {
        config.rate_limiting.login.per_account.burst = 1;
        config.rate_limiting.login.per_account.per_second = 0.001;
    })
    .await;
    let (http, url) = (&setup.server.http, setup.server.url.as_str());
    // 256 bytes: one more than a Matrix user ID may have.
    let long = "a".repeat(256);
    for _ in 0..3 {
        let (status, body) = setup.compat_login(&long, "wrong").await;
        assert_eq!(status, 403, "refused, not limited: {body}");
        assert_eq!(body["errcode"], "M_FORBIDDEN");
    }
    let longest = "b".repeat(255);
    assert_eq!(wrong_login(http, url, &longest, None).await, 403);
    assert_eq!(
        wrong_login(http, url, &longest, None).await,
        429,
        "a possible user ID is limited per account"
    );
}

/// Defect 6: an `X-Forwarded-For` entry that did not parse was skipped, so the walk picked an
/// earlier entry, which the client writes itself: a fresh budget per request.
async fn forwarded_for_stops_at_an_unparsable_entry(db: TestDb) {
    let setup = Setup::start_with(&db, |config| {
        config.rate_limiting.login.per_ip.burst = 2;
        config.rate_limiting.login.per_ip.per_second = 0.001;
    })
    .await;
    let (http, url) = (&setup.server.http, setup.server.url.as_str());
    let mut statuses = Vec::new();
    for n in 1..=3 {
        let forwarded = format!("192.0.2.{n}, not-an-address");
        statuses.push(wrong_login(http, url, "alice", Some(&forwarded)).await);
    }
    assert_eq!(
        statuses,
        [403, 403, 429],
        "all keyed on the trusted proxy that sent them"
    );
    assert_eq!(
        wrong_login(http, url, "alice", Some("192.0.2.9")).await,
        403,
        "a well-formed entry is still its own client"
    );
}

/// Defect 6: clients of a UNIX-socket listener had no per-client limit at all. They are keyed
/// on the proxy's `X-Forwarded-For`, or share one bucket when it names no one.
async fn unix_socket_clients_are_limited(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("gatehouse.sock");
    let _setup = Setup::start_with(&db, |config| {
        config.rate_limiting.login.per_ip.burst = 2;
        config.rate_limiting.login.per_ip.per_second = 0.001;
        config.http.listeners[0]
            .binds
            .push(gatehouse::config::BindConfig::Unix {
                socket: socket.clone(),
                mode: None,
            });
    })
    .await;
    let http = reqwest::Client::builder()
        .unix_socket(socket.clone())
        .build()
        .unwrap();
    let url = "http://localhost";
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(wrong_login(&http, url, "alice", None).await);
    }
    assert_eq!(statuses, [403, 403, 429], "one bucket for unnamed clients");
    let mut statuses = Vec::new();
    for forwarded in ["192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.2"] {
        statuses.push(wrong_login(&http, url, "alice", Some(forwarded)).await);
    }
    assert_eq!(
        statuses,
        [403, 403, 429, 403],
        "named clients have their own buckets"
    );
}

/// Defect 8: every unauthenticated `GET /login/sso/redirect` stored a row, with no limit on
/// how many or how long a `redirectUrl`.
async fn sso_redirect_is_capped_and_limited(db: TestDb) {
    let setup = Setup::start_with(&db, |config| {
        config.rate_limiting.compat_sso_redirect.burst = 4;
        config.rate_limiting.compat_sso_redirect.per_second = 0.001;
    })
    .await;
    let start = |redirect: String, forwarded: Option<&'static str>| {
        let setup = &setup;
        async move {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("redirectUrl", &redirect)
                .finish();
            let mut request = setup.server.http.get(
                setup
                    .server
                    .at(&format!("/_matrix/client/v3/login/sso/redirect?{query}")),
            );
            if let Some(forwarded) = forwarded {
                request = request.header("x-forwarded-for", forwarded);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let url_of = |length: usize| {
        let base = "https://app.example/done?state=";
        format!("{base}{}", "x".repeat(length - base.len()))
    };
    let (status, body) = start(url_of(2049), None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errcode"], "M_INVALID_PARAM");
    // Short enough before parsing, too long once parsing has percent-encoded it.
    let spaced = format!("https://app.example/done#{}end", " ".repeat(1000));
    let (status, body) = start(spaced, None).await;
    assert_eq!(status, 400, "{body}");
    for _ in 0..2 {
        assert_eq!(start(url_of(2048), None).await.0, 303);
    }
    let (status, body) = start(url_of(40), None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
    assert!(
        body["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0),
        "{body}"
    );
    assert_eq!(
        start(url_of(40), Some("192.0.2.1")).await.0,
        303,
        "another client has its own budget"
    );
    let stored: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM compat_sso_logins")
        .fetch_one(setup.server.store.pool())
        .await
        .unwrap();
    assert_eq!(stored, 3, "only the accepted requests stored a login");
}

/// Defect 7: an unknown user, a user without a password and users whose hashes are in cheaper
/// or dearer schemes all fail in about the same time.
async fn failed_logins_take_the_same_time(db: TestDb) {
    // v1: bcrypt cost 10 (the dearer scheme here), v2: argon2id (the current one).
    let setup = Setup::start_with(&db, |config| {
        let mut value = serde_yaml_ng::to_value(&config.passwords).unwrap();
        value["schemes"][0]["cost"] = 10.into();
        config.passwords = serde_yaml_ng::from_value(value).unwrap();
    })
    .await;
    setup.register("modern", false).await;
    accounts::register_user(
        &setup.server.store,
        &setup.server.clock,
        &setup.server.state.passwords,
        Registration {
            username: "nopassword".into(),
            ..Registration::default()
        },
    )
    .await
    .unwrap();
    setup.register("legacy", false).await;
    let legacy_hash =
        bcrypt::hash(format!("{PASSWORD}pepper"), 10).expect("a Synapse-style bcrypt hash");
    sqlx::query(
        "UPDATE user_passwords SET version = 1, hashed_password = $1 WHERE user_id IN
         (SELECT user_id FROM users WHERE username = 'legacy')",
    )
    .bind(legacy_hash)
    .execute(setup.server.store.pool())
    .await
    .unwrap();
    // The legacy user's password really is the one hashed (a success, not timed).
    assert_eq!(setup.compat_login("legacy", PASSWORD).await.0, 200);
    sqlx::query(
        "UPDATE user_passwords SET version = 1, hashed_password = $1 WHERE user_id IN
         (SELECT user_id FROM users WHERE username = 'legacy')",
    )
    .bind(bcrypt::hash(format!("{PASSWORD}pepper"), 10).unwrap())
    .execute(setup.server.store.pool())
    .await
    .unwrap();

    // Round-robin, so that other work on the machine slows every branch alike; and up to five
    // rounds, as other tests share the machine's two cores (under a load average of 12 a 0.6
    // bound failed now and then). A real leak fails every round by far: a branch that skips the
    // hashing answered in under 2% of the time of one that hashes, and bcrypt-12 against
    // argon2id was ten times apart.
    let users = ["nobody-here", "nopassword", "modern", "legacy"];
    let mut last = Vec::new();
    for _ in 0..5 {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); users.len()];
        for _ in 0..5 {
            for (user, times) in users.iter().zip(&mut times) {
                let started = Instant::now();
                let (status, _) = setup.compat_login(user, "wrong password").await;
                times.push(started.elapsed());
                assert_eq!(status, 403, "{user}");
            }
        }
        let medians: Vec<(&str, Duration)> = users
            .iter()
            .zip(&mut times)
            .map(|(user, times)| {
                times.sort();
                (*user, times[2])
            })
            .collect();
        let slowest = medians.iter().map(|(_, t)| *t).max().unwrap();
        if medians
            .iter()
            .all(|(_, median)| median.as_secs_f64() >= slowest.as_secs_f64() * 0.4)
        {
            return;
        }
        last = medians;
    }
    panic!("failed logins take different times by branch: {last:?}");
}

/// Defect 10: a compat refresh token replayed after its successor was used ends the session;
/// presenting it again before the successor was used rotates again (a lost answer).
async fn replayed_compat_refresh_token_ends_the_session(db: TestDb) {
    let setup = Setup::start(&db).await;
    setup.register("alice", false).await;
    let (status, login) = setup
        .server
        .post_json(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": PASSWORD, "refresh_token": true}),
        )
        .await;
    assert_eq!(status, 200);
    let refresh = |token: String| {
        let server = &setup.server;
        async move {
            server
                .post_json(
                    "/_matrix/client/v3/refresh",
                    json!({"refresh_token": token}),
                )
                .await
        }
    };
    let r0 = login["refresh_token"].as_str().unwrap().to_owned();
    let (status, first) = refresh(r0.clone()).await;
    assert_eq!(status, 200);
    // The answer got lost; the client retries with the same token: a fresh pair, and the
    // unused one from the lost answer is withdrawn.
    let (status, retried) = refresh(r0.clone()).await;
    assert_eq!(status, 200, "{retried}");
    let a1 = first["access_token"].as_str().unwrap();
    assert_eq!(setup.server.introspect(a1, true).await["active"], false);
    let a2 = retried["access_token"].as_str().unwrap().to_owned();
    assert_eq!(setup.server.introspect(&a2, true).await["active"], true);
    // The successor is used; now the old token comes back: a thief, or the client, holds a
    // copy. The session ends.
    let (status, body) = refresh(r0).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errcode"], "M_UNKNOWN_TOKEN");
    assert_eq!(setup.server.introspect(&a2, true).await["active"], false);
    let r2 = retried["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(refresh(r2).await.0, 401, "the session is over");
}

/// Defect 10: CSV export fields a spreadsheet would run as formulas are quoted.
async fn csv_export_quotes_formulas(db: TestDb) {
    let setup = Setup::start(&db).await;
    setup.register("root", true).await;
    setup.register("=cmd", false).await;
    setup.register("+sum", false).await;
    let admin = setup.cli(&[
        "manage",
        "issue-personal-token",
        "root",
        "--scope",
        "urn:mas:admin",
    ]);
    let csv = setup
        .server
        .http
        .get(setup.server.at("/api/admin/v1/users/export.csv"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in csv.lines().skip(1) {
        let first = line.chars().next().unwrap();
        assert!(!"=+-@".contains(first), "a formula cell: {line}");
    }
    assert!(csv.contains("'=cmd") && csv.contains("'+sum"), "{csv}");
}

on_both_backends!(
    demoted_admin_loses_admin_power_at_once,
    ending_sessions_ends_browser_sessions,
    idle_browser_sessions_expire,
    browser_sessions_end_at_their_lifetime,
    housekeeping_sweeps_dead_rows,
    sso_exchange_needs_the_browser_session_open,
    next_never_leaves_the_origin,
    pages_refuse_framing_and_caching,
    a_bad_stored_hash_is_a_failed_login,
    synapse_admin_list_refuses_bad_numbers,
    a_hash_with_absurd_parameters_is_refused,
    login_limits_key_ipv6_by_64,
    overlong_identifiers_never_reach_the_limiter,
    forwarded_for_stops_at_an_unparsable_entry,
    unix_socket_clients_are_limited,
    sso_redirect_is_capped_and_limited,
    failed_logins_take_the_same_time,
    replayed_compat_refresh_token_ends_the_session,
    csv_export_quotes_formulas,
);

//! The migration end to end with a real Synapse: a real Synapse database (checked-in fixture) is
//! checked and migrated into Gatehouse, then Synapse is switched to
//! `matrix_authentication_service` pointing at Gatehouse. Clients stay logged in, passwords keep
//! working, admins stay admins, locked and deactivated users stay out. SQLite (both sides) and
//! PostgreSQL (both sides).

use gatehouse::config::HomeserverKind;
use serde_json::{Value, json};

use crate::{
    common::TestDb,
    harness::TestServer,
    on_both_backends,
    syn2mas::{SynapseFixture, gatehouse_for_synapse, syn2mas},
    synapse::{Proxy, SERVER_NAME, SHARED_SECRET, Synapse, synapse_python},
};

async fn whoami(http: &reqwest::Client, base: &str, token: String) -> (u16, Value) {
    let response = http
        .get(format!("{base}/_matrix/client/v3/account/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

fn flag(user: &Value, key: &str) -> bool {
    user[key].as_bool().unwrap_or(false) || user[key].as_i64().is_some_and(|v| v != 0)
}

async fn migrated_users_keep_working_against_a_real_synapse(db: TestDb) {
    let Some(python) = synapse_python() else {
        return;
    };
    let fixture = match db.backend {
        gatehouse::store::Backend::Sqlite => SynapseFixture::sqlite().await,
        gatehouse::store::Backend::Postgres => match SynapseFixture::postgres().await {
            Some(fixture) => fixture,
            None => return,
        },
    };

    // 1. check, then migrate (Synapse is not running).
    let cli = gatehouse_for_synapse(&db);
    let check = syn2mas(&cli, &fixture, &["check"]);
    assert!(
        matches!(check.status.code(), Some(0 | 11)),
        "check: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let migrate = syn2mas(&cli, &fixture, &["migrate"]);
    assert!(
        migrate.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    // 2. Gatehouse with the same database and password schemes; Synapse in MAS mode on its own
    //    (migrated-from) database, behind the reverse proxy.
    let (proxy_listener, proxy_url) = Proxy::bind().await;
    let endpoint = format!("{proxy_url}/");
    let gatehouse = TestServer::start_with(&db, |config| {
        config.matrix.kind = HomeserverKind::Synapse;
        config.matrix.homeserver = SERVER_NAME.into();
        config.matrix.secret = Some(SHARED_SECRET.into());
        config.matrix.endpoint = endpoint.parse().unwrap();
        config.passwords = serde_yaml_ng::from_str(
            "schemes:\n  - {version: 1, algorithm: bcrypt, cost: 4, unicode_normalization: true, secret: s3cret}\n  - {version: 2, algorithm: argon2id}\n",
        )
        .unwrap();
    })
    .await;
    let database = match db.backend {
        gatehouse::store::Backend::Sqlite => {
            json!({"name": "sqlite3", "args": {"database": fixture.uri.trim_start_matches("sqlite://")}})
        }
        gatehouse::store::Backend::Postgres => {
            let url = url::Url::parse(&fixture.uri).unwrap();
            json!({"name": "psycopg2", "args": {"user": url.username(), "host": url.host_str(), "port": url.port(),
                   "database": url.path().trim_start_matches('/'), "cp_min": 1, "cp_max": 5}})
        }
    };
    let workdir = tempfile::tempdir().unwrap();
    let synapse = Synapse::start_on(
        python,
        workdir.path(),
        database,
        &format!("{}/", gatehouse.url),
    )
    .await;
    let proxy = Proxy::start(
        proxy_listener,
        proxy_url.clone(),
        gatehouse.url.clone(),
        synapse.url.clone(),
    );
    let http = &gatehouse.http;
    let whoami = |token: String| whoami(http, &proxy.url, token);

    // 3. Every access token Gatehouse took over still works on Synapse, with its device.
    let mut tokens_checked = 0;
    for user in fixture.manifest["users"].as_array().unwrap() {
        for token in user["access_tokens"].as_array().into_iter().flatten() {
            let string = token["token"].as_str().unwrap();
            let imported = {
                let mut reader = gatehouse.store.reader().await.unwrap();
                gatehouse::services::access::resolve_access_token(
                    &mut reader,
                    string,
                    gatehouse.state.clock.now(),
                )
                .await
                .unwrap()
            };
            let Some(imported) = imported else {
                if flag(user, "locked") {
                    let (status, _) = whoami(string.to_owned()).await;
                    assert_eq!(status, 401, "a locked user's token must not work");
                }
                continue;
            };
            let (status, body) = whoami(string.to_owned()).await;
            assert_eq!(
                status,
                200,
                "{} {string}: {body}\n{}",
                user["localpart"],
                synapse.log_tail()
            );
            assert_eq!(body["user_id"], user["user_id"]);
            assert_eq!(body["device_id"].as_str(), imported.device_id.as_deref());
            if let Some(device) = token["device_id"].as_str() {
                assert_eq!(body["device_id"], device);
            }
            tokens_checked += 1;
        }
    }
    assert!(
        tokens_checked >= 40,
        "only {tokens_checked} tokens carried over"
    );

    // 4. Refreshable tokens refresh.
    let mut refreshed = 0;
    for user in fixture.manifest["users"].as_array().unwrap() {
        if flag(user, "locked") || flag(user, "deactivated") {
            continue; // their sessions are carried, but they may not use them
        }
        for refresh in user["refresh_tokens"].as_array().into_iter().flatten() {
            let string = refresh["token"].as_str().unwrap();
            let found = gatehouse
                .store
                .reader()
                .await
                .unwrap()
                .compat()
                .find_refresh_token(string)
                .await
                .unwrap();
            if found.is_none_or(|token| token.consumed_at.is_some()) {
                continue; // superseded pairs are not carried, or carried as used (as MAS)
            }
            let (status, body) = gatehouse
                .post_json(
                    "/_matrix/client/v3/refresh",
                    json!({"refresh_token": string}),
                )
                .await;
            assert_eq!(status, 200, "refresh for {}: {body}", user["localpart"]);
            let (status, _) = whoami(body["access_token"].as_str().unwrap().to_owned()).await;
            assert_eq!(status, 200);
            refreshed += 1;
        }
    }
    assert!(refreshed >= 1, "no refresh pair was carried over");

    // 5. Every password logs in; locked and deactivated users cannot; admins stay admins.
    let mut logins = 0;
    for user in fixture.manifest["users"].as_array().unwrap() {
        let Some(password) = user["password"].as_str() else {
            continue;
        };
        let localpart = user["localpart"].as_str().unwrap();
        let (status, body) = gatehouse
            .post_json(
                "/_matrix/client/v3/login",
                json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart}, "password": password}),
            )
            .await;
        if flag(user, "deactivated") || user["appservice_id"].is_string() {
            assert_ne!(status, 200, "{localpart} must not log in: {body}");
            continue;
        }
        if flag(user, "locked") {
            assert_eq!(
                (status, body["errcode"].as_str()),
                (401, Some("M_USER_LOCKED")),
                "{localpart}"
            );
            continue;
        }
        assert_eq!(status, 200, "{localpart}: {body}");
        let token = body["access_token"].as_str().unwrap().to_owned();
        let (status, me) = whoami(token.clone()).await;
        assert_eq!(
            (status, me["user_id"].clone()),
            (200, user["user_id"].clone())
        );
        if flag(user, "admin") {
            let response = http
                .get(format!(
                    "{}/_synapse/admin/v2/users?from=0&limit=5&guests=false",
                    proxy.url
                ))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            // Synapse admin rights come from the session scope: a fresh password login is not
            // an admin session; the migrated sessions of admins are (checked below).
            assert_eq!(response.status(), 403);
        }
        logins += 1;
    }
    assert!(logins >= 30, "only {logins} password logins");

    let mut admin_tokens = 0;
    for user in fixture.manifest["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| flag(u, "admin"))
    {
        for token in user["access_tokens"].as_array().into_iter().flatten() {
            if !token["puppets_user_id"].is_null() {
                continue;
            }
            let string = token["token"].as_str().unwrap();
            let active = {
                let mut reader = gatehouse.store.reader().await.unwrap();
                gatehouse::services::access::resolve_access_token(
                    &mut reader,
                    string,
                    gatehouse.state.clock.now(),
                )
                .await
                .unwrap()
            };
            if active.is_none() {
                continue;
            }
            let response = http
                .get(format!(
                    "{}/_synapse/admin/v2/users?from=0&limit=5&guests=false",
                    proxy.url
                ))
                .bearer_auth(string)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                200,
                "admin {} lost Synapse admin rights",
                user["localpart"]
            );
            admin_tokens += 1;
        }
    }
    assert!(admin_tokens >= 1, "no admin session was carried over");
    drop(proxy);
    drop(synapse);
    gatehouse.stop().await;
}

on_both_backends!(migrated_users_keep_working_against_a_real_synapse);

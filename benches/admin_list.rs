//! Admin API user-list latency at scale: `bench/admin-list.sh` (or `cargo bench --bench
//! admin_list`). Prints figures, asserts nothing.
//!
//! For each size in `BENCH_USERS` (default `100000,1000000`) and each backend (SQLite always,
//! PostgreSQL when `GATEHOUSE_TEST_POSTGRES_URL` is set), it bulk-inserts that many users with
//! plain SQL (1% admins, 2% locked, 0.5% deactivated), then times requests through the real
//! admin routes in process (auth, handler, store, JSON; no TCP): median and p95 of `RUNS`
//! (default 20) requests each.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use gatehouse::{
    config::{ListenerConfig, Resource, RootConfig},
    crypto::passwords::{PasswordAlgorithm, PasswordHasher, PasswordScheme},
    domain::SystemClock,
    http::{AppState, listener_routes},
    services::accounts::{self, PersonalTokenRequest},
    store::{PoolSettings, Store},
};
use poem::{Endpoint, Request, endpoint::BoxEndpoint};
use sqlx::{AnyConnection, Connection};

const BATCH_SQLITE: usize = 100;
const BATCH_POSTGRES: usize = 1000;

async fn insert_users(store: &Store, total: usize, batch: usize) {
    let mut tx = store.pool().begin().await.expect("begin");
    // Ids ascend with creation time, as ULIDs made by the app do.
    let start_ms: u64 = 1_700_000_000_000;
    let mut done = 0;
    while done < total {
        let n = batch.min(total - done);
        let mut sql = String::from(
            "INSERT INTO users (user_id, username, created_at, locked_at, deactivated_at, can_request_admin, is_guest) VALUES ",
        );
        for i in 0..n {
            let k = done + i;
            let ms = start_ms + k as u64;
            let id = ulid::Ulid::from_parts(ms, k as u128);
            let locked = if k % 50 == 7 {
                ms.to_string()
            } else {
                "NULL".into()
            };
            let deactivated = if k % 200 == 9 {
                ms.to_string()
            } else {
                "NULL".into()
            };
            let admin = u8::from(k % 100 == 3);
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "('{id}', 'user{k:07}', {ms}, {locked}, {deactivated}, {admin}, 0)"
            ));
        }
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .expect("insert users");
        done += n;
    }
    tx.commit().await.expect("commit");
}

fn hasher() -> PasswordHasher {
    PasswordHasher::new(
        vec![PasswordScheme {
            version: 1,
            algorithm: PasswordAlgorithm::Bcrypt { cost: 4 },
            pepper: None,
            unicode_normalization: false,
        }],
        0,
    )
    .expect("hasher")
}

async fn time(
    app: &BoxEndpoint<'static>,
    token: &str,
    path: &str,
    runs: usize,
) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let request = Request::builder()
            .uri_str(path)
            .header("authorization", format!("Bearer {token}"))
            .finish();
        let started = Instant::now();
        let response = app.get_response(request).await;
        let status = response.status();
        let _ = response.into_body().into_vec().await;
        samples.push(started.elapsed());
        assert!(status.is_success(), "{path}: {status}");
    }
    samples.sort();
    let p95 = samples[(samples.len() * 95 / 100).min(samples.len() - 1)];
    (samples[samples.len() / 2], p95)
}

async fn run(backend: &str, url: &str, users: usize, runs: usize) {
    let store = Store::connect(url, &PoolSettings::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let started = Instant::now();
    let batch = if backend == "SQLite" {
        BATCH_SQLITE
    } else {
        BATCH_POSTGRES
    };
    insert_users(&store, users, batch).await;
    // Fresh statistics, as autovacuum (PostgreSQL) or `PRAGMA optimize` would give.
    sqlx::query("ANALYZE").execute(store.pool()).await.ok();
    eprintln!(
        "{backend}: inserted {users} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let clock = SystemClock;
    let config: RootConfig =
        gatehouse::config::generate(&mut gatehouse::domain::RandomSource::System.rng())
            .expect("config");
    let keystore = config.keystore().expect("keystore");
    let state = AppState::new(
        store.clone(),
        config,
        Arc::new(clock),
        gatehouse::domain::RandomSource::System,
        hasher(),
        keystore,
    )
    .expect("state");
    // user0000003 is an admin (every 100th from 3).
    let token = accounts::issue_personal_token(
        &store,
        &clock,
        &mut gatehouse::domain::RandomSource::System.rng(),
        PersonalTokenRequest {
            actor_user_id: accounts::find_user(&store, "user0000003").await.unwrap().id,
            owner_user_id: None,
            human_name: "bench".into(),
            scope: gatehouse::domain::scopes::Scope::parse("urn:mas:admin").unwrap(),
            expires_in: None,
        },
    )
    .await
    .expect("token")
    .access_token;
    let listener = ListenerConfig {
        name: "bench".into(),
        resources: vec![Resource::AdminApi],
        prefix: None,
        binds: Vec::new(),
        proxy_protocol: false,
        tls: None,
    };
    let app = listener_routes(&listener, &state);
    let middle =
        ulid::Ulid::from_parts(1_700_000_000_000 + (users / 2) as u64, (users / 2) as u128);
    let cases = [
        (
            "first page of 100, with count",
            "/api/admin/v1/users?page[first]=100".to_owned(),
        ),
        (
            "first page of 100, count=false",
            "/api/admin/v1/users?page[first]=100&count=false".to_owned(),
        ),
        (
            "page of 100 in the middle, count=false",
            format!("/api/admin/v1/users?page[first]=100&page[after]={middle}&count=false"),
        ),
        (
            "last page of 100, count=false",
            "/api/admin/v1/users?page[last]=100&count=false".to_owned(),
        ),
        (
            "filter[status]=locked, 100, with count",
            "/api/admin/v1/users?filter[status]=locked&page[first]=100".to_owned(),
        ),
        (
            "filter[admin]=true, 100, with count",
            "/api/admin/v1/users?filter[admin]=true&page[first]=100".to_owned(),
        ),
        (
            "filter[search]=user00042 (10 hits), with count",
            "/api/admin/v1/users?filter[search]=user00042&page[first]=100".to_owned(),
        ),
        (
            "filter[search]=user00042, count=false",
            "/api/admin/v1/users?filter[search]=user00042&page[first]=100&count=false".to_owned(),
        ),
    ];
    for (label, path) in &cases {
        let (median, p95) = time(&app, &token, path, runs).await;
        println!(
            "{backend:<10} {users:>8} users  {label:<48} median {:>8.2} ms  p95 {:>8.2} ms",
            median.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        );
    }
    store.close().await;
}

#[tokio::main]
async fn main() {
    sqlx::any::install_default_drivers();
    let sizes: Vec<usize> = std::env::var("BENCH_USERS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let postgres = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").ok();
    for &users in &sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        run("SQLite", &url, users, runs).await;
        if let Some(admin_url) = &postgres {
            let name = format!(
                "gatehouse_bench_{}",
                gatehouse::domain::ids::new_id(&gatehouse::domain::SystemClock)
                    .to_string()
                    .to_lowercase()
            );
            let mut admin = AnyConnection::connect(admin_url).await.expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create database");
            let mut url = url::Url::parse(admin_url).expect("url");
            url.set_path(&name);
            run("PostgreSQL", url.as_str(), users, runs).await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await
            .ok();
        }
    }
}

//! `gatehouse syn2mas` against databases made by a real Synapse 1.163.2 (the checked-in dumps
//! under tests/fixtures/synapse/, built with ../shared/synapse-harness, pepper `s3cret`), on
//! both Gatehouse backends, checked against the harness manifests.
//!
//! A few rows are added on top of each real dump (see `AUGMENT`) for cases the harness does not
//! produce: an upper-case email, a second upstream provider, a device without tokens, a hidden
//! device, a device-less token and an expired token.

use std::{collections::HashMap, path::PathBuf, process::Output};

use gatehouse::{
    crypto::passwords::{PasswordAlgorithm, PasswordHasher, PasswordScheme},
    domain::SystemClock,
    store::{Store, bulk::MIGRATION_TABLES},
};
use serde_json::Value as Json;
use sqlx::{Connection, PgConnection, SqliteConnection, sqlite::SqliteConnectOptions};
use tempfile::TempDir;

use crate::{cli::GatehouseCli, common::TestDb, on_both_backends};

const KEYCLOAK: &str = "01JC9R4V8B5D7M3N2P6Q8S0T2X";
const GITHUB: &str = "01JC9R4V8B5D7M3N2P6Q8S0T3Y";
const NOW_MS: i64 = 1_900_000_000_000;

/// Extra rows on top of the real dump; portable SQL (both engines).
const AUGMENT: &str = "
INSERT INTO user_threepids (user_id, medium, address, validated_at, added_at)
    VALUES ('@frank:example.test', 'email', 'Frank.Upper@Example.TEST', 1700000000000, 1700000000000);
INSERT INTO user_external_ids (auth_provider, external_id, user_id)
    VALUES ('oidc-github', 'gh-4242', '@heidi:example.test');
INSERT INTO devices (user_id, device_id, display_name, last_seen, ip, user_agent, hidden)
    VALUES ('@heidi:example.test', 'NOTOKENDEV', 'Old laptop', 1700000000123, '-', 'Agent/1', FALSE);
INSERT INTO devices (user_id, device_id, display_name, last_seen, ip, user_agent, hidden)
    VALUES ('@heidi:example.test', 'HIDDENDEV', NULL, NULL, NULL, NULL, TRUE);
INSERT INTO access_tokens (id, user_id, device_id, token, valid_until_ms, puppets_user_id, last_validated, refresh_token_id, used)
    VALUES (990001, '@heidi:example.test', NULL, 'syt_aGVpZGk_devicelessToken0000_000000', NULL, NULL, 1700000000000, NULL, NULL);
INSERT INTO access_tokens (id, user_id, device_id, token, valid_until_ms, puppets_user_id, last_validated, refresh_token_id, used)
    SELECT 990002, user_id, device_id, 'syt_Ym9i_expiredToken000000000_000000', 1000, NULL, 900, NULL, NULL
    FROM devices WHERE user_id = '@bob:example.test' ORDER BY device_id LIMIT 1;
";

/// A Synapse database loaded from a checked-in dump.
pub struct SynapseFixture {
    pub manifest: Json,
    pub uri: String,
    pub dir: TempDir,
    pub homeserver_yaml: PathBuf,
}

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/synapse/{name}"))
}

fn manifest(name: &str) -> Json {
    let text = std::fs::read_to_string(fixture_dir(name).join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

impl SynapseFixture {
    pub async fn sqlite() -> SynapseFixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("homeserver.db");
        let dump =
            std::fs::read_to_string(fixture_dir("sqlite-60").join("homeserver.sql")).unwrap();
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(dump))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::raw_sql(AUGMENT).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        Self::finish(dir, "sqlite-60", format!("sqlite://{}", path.display()))
    }

    /// `None` when PostgreSQL tests are skipped.
    pub async fn postgres() -> Option<SynapseFixture> {
        let db = TestDb::postgres().await?;
        let admin_url = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").unwrap();
        // Synapse requires a C-collated UTF8 database.
        let name = format!("synapse_{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        admin.close().await.ok();
        drop(db);
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&name);
        let dump = std::fs::read_to_string(fixture_dir("postgres-60").join("synapse.sql")).unwrap();
        let mut conn = PgConnection::connect(url.as_str()).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(dump))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::raw_sql("SET search_path = public")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::raw_sql(AUGMENT).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        Some(Self::finish(dir, "postgres-60", url.to_string()))
    }

    fn finish(dir: TempDir, name: &str, uri: String) -> SynapseFixture {
        // The fixture's homeserver.yaml, plus a second OIDC provider. Top-level keys replace,
        // so the overlay repeats the whole oidc_providers list.
        let base = fixture_dir(name).join("homeserver.yaml");
        let mut config: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
        let mut providers = config["oidc_providers"].as_sequence().unwrap().clone();
        providers.push(
            serde_yaml_ng::from_str(
                "{idp_id: github, idp_name: GitHub, issuer: 'https://github.example', client_id: gh, client_secret: ghs}",
            )
            .unwrap(),
        );
        config["oidc_providers"] = serde_yaml_ng::Value::Sequence(providers);
        // The fixture's pid file points at the harness's scratch directory; use ours.
        config["pid_file"] = dir
            .path()
            .join("homeserver.pid")
            .display()
            .to_string()
            .into();
        let homeserver_yaml = dir.path().join("homeserver.yaml");
        std::fs::write(&homeserver_yaml, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
        SynapseFixture {
            manifest: manifest(name),
            uri,
            dir,
            homeserver_yaml,
        }
    }
}

/// A Gatehouse CLI whose config matches the fixture's Synapse (pepper, server name, providers).
pub fn gatehouse_for_synapse(db: &TestDb) -> GatehouseCli {
    let cli = GatehouseCli::new(db);
    edit_config(&cli, |config| {
        config["matrix"]["homeserver"] = "example.test".into();
        config["passwords"] = serde_yaml_ng::from_str(
            "schemes:\n  - {version: 1, algorithm: bcrypt, cost: 4, unicode_normalization: true, secret: s3cret}\n  - {version: 2, algorithm: argon2id}\n",
        )
        .unwrap();
        config["upstream_oauth2"] = serde_yaml_ng::from_str(&format!(
            "providers:\n  - {{id: {KEYCLOAK}, synapse_idp_id: oidc-keycloak, issuer: 'http://127.0.0.1:18080/realms/test', client_id: gatehouse, client_secret: kc-secret}}\n  - {{id: {GITHUB}, synapse_idp_id: oidc-github, issuer: 'https://github.example', client_id: gh}}\n"
        ))
        .unwrap();
    });
    cli
}

pub fn edit_config(cli: &GatehouseCli, edit: impl FnOnce(&mut serde_yaml_ng::Value)) {
    let path = &cli.files[0];
    let mut config: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(path, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
}

pub fn syn2mas(cli: &GatehouseCli, synapse: &SynapseFixture, args: &[&str]) -> Output {
    let yaml = synapse.homeserver_yaml.display().to_string();
    let mut all = vec!["syn2mas"];
    all.extend_from_slice(&args[..1]);
    all.extend_from_slice(&[
        "--synapse-config",
        &yaml,
        "--synapse-database-uri",
        &synapse.uri,
    ]);
    all.extend_from_slice(&args[1..]);
    cli.run(&all)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn expect_code(output: &Output, code: i32) -> String {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr:\n{text}");
    text
}

/// Every table's row count (to prove a run changed nothing).
async fn row_counts(store: &Store) -> Vec<(String, i64)> {
    let tables = [
        "users",
        "user_passwords",
        "user_emails",
        "user_unsupported_third_party_ids",
        "upstream_oauth_providers",
        "upstream_oauth_links",
        "compat_sessions",
        "compat_access_tokens",
        "compat_refresh_tokens",
        "oauth2_clients",
        "queue_jobs",
        "user_registration_tokens",
    ];
    let mut counts = Vec::new();
    for table in tables {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(store.pool())
                .await
                .unwrap();
        counts.push((table.to_owned(), count));
    }
    counts
}

/// The schema's keys, indexes and foreign keys (and, on PostgreSQL, which schemas exist: the
/// importer's staging schema must be gone after every run), to check that a run that was
/// rolled back or killed left the schema as it was.
async fn schema_fingerprint(store: &Store) -> String {
    let sql = match store.backend() {
        gatehouse::store::Backend::Postgres => {
            "SELECT string_agg(x, E'\n' ORDER BY x) FROM (
                 SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
                        || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END AS x
                 FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
                 UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()
                 UNION ALL SELECT 'schema ' || nspname FROM pg_namespace) s"
        }
        gatehouse::store::Backend::Sqlite => {
            "SELECT group_concat(sql, char(10)) FROM
                 (SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name)"
        }
    };
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

fn flag(user: &Json, key: &str) -> bool {
    match &user[key] {
        Json::Bool(b) => *b,
        Json::Number(n) => n.as_i64() != Some(0),
        _ => false,
    }
}

/// Whether the manifest's token is one Synapse would still accept after a refresh.
fn superseded(user: &Json, token: &Json) -> bool {
    let Some(rt_id) = token["refresh_token_id"].as_i64() else {
        return false;
    };
    let refresh = user["refresh_tokens"].as_array().unwrap();
    let Some(next) = refresh
        .iter()
        .find(|r| r["id"].as_i64() == Some(rt_id))
        .and_then(|r| r["next_token_id"].as_i64())
    else {
        return false;
    };
    user["access_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["refresh_token_id"].as_i64() == Some(next) && t["used"].as_bool() == Some(true))
}

/// Compare the Gatehouse database with the manifest.
pub async fn verify_against_manifest(store: &Store, manifest: &Json) {
    let hasher = PasswordHasher::new(
        vec![PasswordScheme {
            version: 1,
            algorithm: PasswordAlgorithm::Bcrypt { cost: 4 },
            pepper: Some(b"s3cret".to_vec()),
            unicode_normalization: true,
        }],
        0,
    )
    .unwrap();
    let users = manifest["users"].as_array().unwrap();
    let mut seen = HashMap::new();
    for user in users {
        let localpart = user["localpart"].as_str().unwrap();
        let found = store
            .reader()
            .await
            .unwrap()
            .users()
            .find_by_username(localpart)
            .await
            .unwrap();
        if user["appservice_id"].is_string() {
            assert!(found.is_none(), "appservice user {localpart} was migrated");
            continue;
        }
        let found = found.unwrap_or_else(|| panic!("{localpart} not migrated"));
        let deactivated = flag(user, "deactivated");
        let guest = flag(user, "is_guest");
        assert_eq!(found.can_request_admin, flag(user, "admin"), "{localpart}");
        assert_eq!(
            found.locked_at.is_some(),
            flag(user, "locked"),
            "{localpart}"
        );
        assert_eq!(found.deactivated_at.is_some(), deactivated, "{localpart}");
        assert_eq!(found.is_guest, guest, "{localpart}");
        assert_eq!(
            found.created_at.timestamp(),
            user["creation_ts"].as_i64().unwrap(),
            "{localpart}"
        );

        if let Some(password) = user["password"].as_str()
            && user["password_hash"]
                .as_str()
                .is_some_and(|h| !h.is_empty())
        {
            gatehouse::services::sign_in::verify_password(
                store,
                &SystemClock,
                &hasher,
                &found,
                password,
            )
            .await
            .unwrap_or_else(|e| panic!("{localpart}: password does not verify: {e}"));
            assert!(
                gatehouse::services::sign_in::verify_password(
                    store,
                    &SystemClock,
                    &hasher,
                    &found,
                    "wrong"
                )
                .await
                .is_err()
            );
        }

        let mut reader = store.reader().await.unwrap();
        let mut emails: Vec<String> = reader
            .emails()
            .list_for_user(found.id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.email)
            .collect();
        emails.sort();
        let mut expected: Vec<String> = user["threepids"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["medium"] == "email")
            .map(|t| t["address"].as_str().unwrap().to_owned())
            .collect();
        if localpart == "frank" {
            expected.push("Frank.Upper@Example.TEST".to_owned());
        }
        expected.sort();
        assert_eq!(emails, expected, "{localpart} emails");
        let others: Vec<(String, String)> = reader
            .emails()
            .list_unsupported_threepids(found.id)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.medium, t.address))
            .collect();
        let expected_others: Vec<(String, String)> = user["threepids"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["medium"] != "email")
            .map(|t| {
                (
                    t["medium"].as_str().unwrap().to_owned(),
                    t["address"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(others, expected_others, "{localpart} other 3pids");

        for link in user["external_ids"].as_array().unwrap() {
            assert_eq!(link["auth_provider"], "oidc-keycloak");
            let owner = reader
                .upstream()
                .find_link_user(
                    ulid::Ulid::from_string(KEYCLOAK).unwrap(),
                    link["external_id"].as_str().unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(owner, Some(found.id), "{localpart} link");
        }

        let carries_sessions = !deactivated && !guest;
        for token in user["access_tokens"].as_array().unwrap() {
            let string = token["token"].as_str().unwrap();
            let lookup = reader.compat().find_access_token(string).await.unwrap();
            let expected =
                carries_sessions && token["puppets_user_id"].is_null() && !superseded(user, token);
            let Some(lookup) = lookup else {
                assert!(!expected, "{localpart}: token {string} not migrated");
                continue;
            };
            assert!(
                expected,
                "{localpart}: token {string} should not be migrated"
            );
            assert_eq!(lookup.user.username, localpart);
            assert_eq!(
                lookup.device_id.as_deref(),
                token["device_id"].as_str(),
                "{localpart}"
            );
            assert_eq!(lookup.is_synapse_admin, flag(user, "admin"));
            assert_eq!(
                lookup.token.expires_at.map(|t| t.timestamp_millis()),
                token["valid_until_ms"].as_i64()
            );
            *seen.entry("tokens").or_insert(0) += 1;
            if let Some(rt_id) = token["refresh_token_id"].as_i64() {
                let rt = user["refresh_tokens"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["id"].as_i64() == Some(rt_id))
                    .unwrap();
                let refresh = reader
                    .compat()
                    .find_refresh_token(rt["token"].as_str().unwrap())
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("{localpart}: refresh token missing"));
                assert_eq!(refresh.access_token_id, lookup.token.id);
                assert_eq!(refresh.session_id, lookup.session_id);
                *seen.entry("refresh").or_insert(0) += 1;
            }
        }
        // One session per carried device (hidden and guest devices are not devices).
        let sessions = reader.compat().active_sessions(found.id).await.unwrap();
        let with_device = sessions.iter().filter(|s| s.device_id.is_some()).count();
        let expected_devices = if carries_sessions {
            user["devices"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["hidden"] != true && d["device_id"] != "guest_device")
                .count()
                + usize::from(localpart == "heidi")
        } else {
            0
        };
        assert_eq!(with_device, expected_devices, "{localpart} devices");
    }
    assert!(seen["tokens"] > 80, "{seen:?}");
    assert!(seen["refresh"] >= 4, "{seen:?}");
}

/// The rows AUGMENT added, and what happened to them.
async fn verify_augmented(store: &Store) {
    let mut reader = store.reader().await.unwrap();
    let heidi = reader
        .users()
        .find_by_username("heidi")
        .await
        .unwrap()
        .unwrap();
    let owner = reader
        .upstream()
        .find_link_user(ulid::Ulid::from_string(GITHUB).unwrap(), "gh-4242")
        .await
        .unwrap();
    assert_eq!(owner, Some(heidi.id), "second provider's link");
    let sessions = reader.compat().active_sessions(heidi.id).await.unwrap();
    let old = sessions
        .iter()
        .find(|s| s.device_id.as_deref() == Some("NOTOKENDEV"))
        .expect("device without tokens carried");
    assert_eq!(old.human_name.as_deref(), Some("Old laptop"));
    assert_eq!(old.last_active_ip, None, "'-' is not an address");
    assert_eq!(old.user_agent.as_deref(), Some("Agent/1"));
    assert!(
        !sessions
            .iter()
            .any(|s| s.device_id.as_deref() == Some("HIDDENDEV"))
    );
    let deviceless = reader
        .compat()
        .find_access_token("syt_aGVpZGk_devicelessToken0000_000000")
        .await
        .unwrap()
        .expect("device-less token carried");
    assert_eq!(deviceless.device_id, None);
    assert_eq!(deviceless.user.id, heidi.id);
    let expired = reader
        .compat()
        .find_access_token("syt_Ym9i_expiredToken000000000_000000")
        .await
        .unwrap()
        .expect("expired token carried");
    assert_eq!(
        expired.token.expires_at.map(|t| t.timestamp_millis()),
        Some(1000)
    );
    assert!(expired.token.expires_at.unwrap().timestamp_millis() < NOW_MS);
    // Tokens are stored as digests only.
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM compat_access_tokens WHERE access_token_sha256 = $1",
    )
    .bind(b"syt_Ym9i_expiredToken000000000_000000".to_vec())
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(plain, 0);
}

fn check_report(path: &std::path::Path, manifest: &Json) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let by_lp: HashMap<&str, &csv::StringRecord> = rows.iter().map(|r| (&r[0], r)).collect();
    for user in manifest["users"].as_array().unwrap() {
        let lp = user["localpart"].as_str().unwrap();
        let row = by_lp
            .get(lp)
            .unwrap_or_else(|| panic!("{lp} missing from the report"));
        if user["appservice_id"].is_string() {
            assert_eq!(&row[1], "skipped");
            assert!(row[2].contains("appservice"), "{row:?}");
        } else {
            assert_eq!(&row[1], "migrated", "{row:?}");
        }
    }
    assert!(by_lp["admin"][11].contains("'log in as' token for @grace"));
    assert!(by_lp["heidi"][11].contains("device HIDDENDEV: hidden"));
    assert!(by_lp["ivan"][11].contains("no longer accepts"));
    assert!(by_lp["bridge_alice"][11].contains("user not migrated"));
    assert!(by_lp["1"][11].contains("guest"));
}

async fn run_fixture(db: TestDb, synapse: SynapseFixture) {
    let cli = gatehouse_for_synapse(&db);
    // Guests and a phone number exist: warnings only.
    let text = expect_code(&syn2mas(&cli, &synapse, &["check"]), 11);
    assert!(text.contains("warning: 1 guest user(s)"), "{text}");
    assert!(text.contains("non-email third-party id"), "{text}");

    let report = synapse.dir.path().join("report.csv");
    let report_arg = report.display().to_string();
    let text = expect_code(
        &syn2mas(&cli, &synapse, &["migrate", "--report", &report_arg]),
        0,
    );
    assert!(text.contains("migration complete"), "{text}");
    let store = db.store().await;
    verify_against_manifest(&store, &synapse.manifest).await;
    verify_augmented(&store).await;
    check_report(&report, &synapse.manifest);

    // A second run refuses: the target is no longer empty.
    let text = expect_code(&syn2mas(&cli, &synapse, &["migrate"]), 10);
    assert!(text.contains("is not empty"), "{text}");

    // Users of another server (one whose name ends like ours) block the migration, named.
    synapse_execute(
        &synapse,
        "INSERT INTO users (name, creation_ts, is_guest, admin, deactivated, locked, suspended)
         VALUES ('@alien:other.test', 0, 0, 0, 0, FALSE, FALSE),
                ('@twin:sub.example.test', 0, 0, 0, 0, FALSE, FALSE),
                ('@odd:name:example.test', 0, 0, 0, 0, FALSE, FALSE)",
    )
    .await;
    let text = expect_code(&syn2mas(&cli, &synapse, &["check"]), 10);
    for server in ["other.test", "sub.example.test", "name:example.test"] {
        assert!(
            text.contains(&format!(
                "1 user(s) in Synapse's users table belong to server \"{server}\""
            )),
            "{server}: {text}"
        );
    }
}

/// Run `sql` on the fixture's Synapse database.
async fn synapse_execute(synapse: &SynapseFixture, sql: &'static str) {
    if synapse.uri.starts_with("sqlite:") {
        let mut conn = SqliteConnection::connect(&synapse.uri).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    } else {
        let mut conn = PgConnection::connect(&synapse.uri).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
}

async fn migrates_sqlite_synapse(db: TestDb) {
    run_fixture(db, SynapseFixture::sqlite().await).await;
}

async fn migrates_postgres_synapse(db: TestDb) {
    if let Some(synapse) = SynapseFixture::postgres().await {
        run_fixture(db, synapse).await;
    }
}

async fn dry_run_changes_nothing(db: TestDb) {
    let synapse = SynapseFixture::sqlite().await;
    let cli = gatehouse_for_synapse(&db);
    cli.ok(&["database", "migrate"]);
    let store = db.store().await;
    let before = row_counts(&store).await;
    let schema = schema_fingerprint(&store).await;
    let text = expect_code(&syn2mas(&cli, &synapse, &["migrate", "--dry-run"]), 0);
    assert!(text.contains("dry run"), "{text}");
    assert!(text.contains("users"), "summary table: {text}");
    assert_eq!(row_counts(&store).await, before);
    assert_eq!(schema_fingerprint(&store).await, schema);
    // And the real run afterwards works.
    expect_code(&syn2mas(&cli, &synapse, &["migrate"]), 0);
    verify_against_manifest(&store, &synapse.manifest).await;
}

async fn killed_run_leaves_nothing_and_rerun_completes(db: TestDb) {
    let synapse = SynapseFixture::sqlite().await;
    let cli = gatehouse_for_synapse(&db);
    cli.ok(&["database", "migrate"]);
    let schema = {
        let store = db.store().await;
        schema_fingerprint(&store).await
    };
    let yaml = synapse.homeserver_yaml.display().to_string();
    let mut command = crate::cli::binary();
    for file in &cli.files {
        command.arg("-c").arg(file);
    }
    let output = command
        .args([
            "syn2mas",
            "migrate",
            "--synapse-config",
            &yaml,
            "--synapse-database-uri",
            &synapse.uri,
        ])
        .env("GATEHOUSE_TEST_SYN2MAS_ABORT_AFTER_BATCHES", "3")
        .current_dir(cli.dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success(), "should have been killed");
    assert!(stderr(&output).contains("aborting after 3 batches"));
    let store = db.store().await;
    for (table, count) in row_counts(&store).await {
        if MIGRATION_TABLES.contains(&table.as_str()) {
            assert_eq!(count, 0, "{table} holds rows of the killed run");
        }
    }
    // On PostgreSQL the killed run leaves its (empty) staging schema, which the rerun drops.
    let left = schema_fingerprint(&store).await;
    assert_eq!(
        left.replace("\nschema syn2mas_staging", ""),
        schema,
        "the killed run changed the schema"
    );
    drop(store);
    expect_code(&syn2mas(&cli, &synapse, &["migrate"]), 0);
    let store = db.store().await;
    assert_eq!(schema_fingerprint(&store).await, schema);
    verify_against_manifest(&store, &synapse.manifest).await;
    verify_augmented(&store).await;
}

async fn exit_codes_and_messages(db: TestDb) {
    let synapse = SynapseFixture::sqlite().await;
    let cli = gatehouse_for_synapse(&db);

    // Wrong server name and no pepper: errors that say what to change.
    edit_config(&cli, |config| {
        config["matrix"]["homeserver"] = "wrong.test".into();
        config["passwords"]["schemes"][0]["secret"] = serde_yaml_ng::Value::Null;
        config["passwords"]["schemes"][0]["unicode_normalization"] = false.into();
    });
    let text = expect_code(&syn2mas(&cli, &synapse, &["check"]), 10);
    assert!(
        text.contains("set matrix.homeserver: \"example.test\""),
        "{text}"
    );
    assert!(text.contains("password_config.pepper"), "{text}");
    assert!(text.contains("unicode_normalization: true"), "{text}");
    let text = expect_code(&syn2mas(&cli, &synapse, &["migrate"]), 10);
    assert!(text.contains("blocking problem"), "{text}");
    let store = db.store().await;
    assert!(
        row_counts(&store)
            .await
            .iter()
            .all(|(_, count)| *count == 0)
    );

    // A provider in use with no Gatehouse provider.
    let cli = gatehouse_for_synapse(&db);
    edit_config(&cli, |config| {
        config["upstream_oauth2"]["providers"]
            .as_sequence_mut()
            .unwrap()
            .pop();
    });
    let text = expect_code(&syn2mas(&cli, &synapse, &["check"]), 10);
    assert!(text.contains("synapse_idp_id: \"oidc-github\""), "{text}");
    let text = expect_code(
        &syn2mas(
            &cli,
            &synapse,
            &["check", "--ignore-missing-auth-providers"],
        ),
        11,
    );
    assert!(text.contains("links are skipped"), "{text}");
    // An explicit mapping works too.
    let mapping = format!("oidc-github:{KEYCLOAK}");
    expect_code(
        &syn2mas(
            &cli,
            &synapse,
            &["check", "--upstream-provider-mapping", &mapping],
        ),
        11,
    );

    // Synapse running (its pid file names a live process): a real run refuses, a dry run not.
    let cli = gatehouse_for_synapse(&db);
    std::fs::write(
        synapse.dir.path().join("homeserver.pid"),
        std::process::id().to_string(),
    )
    .unwrap();
    let text = expect_code(&syn2mas(&cli, &synapse, &["migrate"]), 1);
    assert!(text.contains("Synapse seems to be running"), "{text}");
    expect_code(&syn2mas(&cli, &synapse, &["migrate", "--dry-run"]), 0);
    std::fs::remove_file(synapse.dir.path().join("homeserver.pid")).unwrap();

    // No warnings at all: exit 0.
    let mut conn = SqliteConnection::connect(&synapse.uri).await.unwrap();
    sqlx::raw_sql(
        "DELETE FROM users WHERE is_guest = 1; DELETE FROM user_threepids WHERE medium <> 'email';",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let text = expect_code(&syn2mas(&cli, &synapse, &["check"]), 0);
    assert!(text.contains("ready to migrate"), "{text}");
}

/// `config generate --synapse-config` gives a configuration `syn2mas` accepts as is.
async fn generated_config_is_ready_for_migration(db: TestDb) {
    let synapse = SynapseFixture::sqlite().await;
    let cli = GatehouseCli::new(&db);
    let yaml = synapse.homeserver_yaml.display().to_string();
    let output = cli.ok(&["config", "generate", "-s", &yaml]);
    let mut config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&output).unwrap();
    assert_eq!(config["matrix"]["homeserver"], "example.test");
    assert_eq!(config["matrix"]["endpoint"], "http://127.0.0.1:18008/");
    let v1 = &config["passwords"]["schemes"][0];
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["algorithm"], "bcrypt");
    assert_eq!(v1["cost"], 4);
    assert_eq!(v1["secret"], "s3cret");
    assert_eq!(v1["unicode_normalization"], true);
    assert_eq!(config["passwords"]["schemes"][1]["algorithm"], "argon2id");
    let providers = config["upstream_oauth2"]["providers"]
        .as_sequence()
        .unwrap();
    assert_eq!(providers.len(), 2);
    assert_eq!(providers[0]["synapse_idp_id"], "oidc-keycloak");
    assert_eq!(providers[0]["discovery_mode"], "disabled");
    assert_eq!(providers[0]["scope"], "openid profile email");
    assert_eq!(
        providers[0]["claims_imports"]["localpart"]["template"],
        "{{ user.preferred_username }}"
    );
    assert_eq!(providers[1]["synapse_idp_id"], "oidc-github");
    config["http"]["listeners"] = serde_yaml_ng::Value::Sequence(Vec::new());
    // Fixed ids, so that the checks below know where links should point.
    config["upstream_oauth2"]["providers"][0]["id"] = KEYCLOAK.into();
    config["upstream_oauth2"]["providers"][1]["id"] = GITHUB.into();
    std::fs::write(&cli.files[0], serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    expect_code(&syn2mas(&cli, &synapse, &["check"]), 11);
    expect_code(&syn2mas(&cli, &synapse, &["migrate"]), 0);
    let store = db.store().await;
    verify_against_manifest(&store, &synapse.manifest).await;
    // The providers were synced, secret encrypted.
    let providers = store
        .reader()
        .await
        .unwrap()
        .upstream()
        .list_providers()
        .await
        .unwrap();
    assert_eq!(providers.len(), 2);
    let secret = providers[0].encrypted_client_secret.as_deref().unwrap();
    assert!(!secret.contains("fixture-client-secret"));
}

on_both_backends!(
    generated_config_is_ready_for_migration,
    migrates_sqlite_synapse,
    migrates_postgres_synapse,
    dry_run_changes_nothing,
    killed_run_leaves_nothing_and_rerun_completes,
    exit_codes_and_messages,
);

//! Where `syn2mas` finds a PostgreSQL Synapse database when no `--synapse-database-uri` is
//! given (homeserver.yaml's psycopg2 section, completed by libpq's PG* environment variables),
//! and its refusal to migrate while Synapse is writing to that database.

use sqlx::{Connection, PgConnection};

use crate::{
    common::TestDb,
    on_both_backends,
    syn2mas::{SynapseFixture, gatehouse_for_synapse, syn2mas, verify_against_manifest},
};

/// Run `gatehouse syn2mas VERB --synapse-config YAML` (no URI) with `env` set and every other
/// PG* variable removed.
fn syn2mas_from_config(
    cli: &crate::cli::GatehouseCli,
    yaml: &std::path::Path,
    verb: &str,
    env: &[(&str, String)],
) -> std::process::Output {
    let mut command = crate::cli::binary();
    for file in &cli.files {
        command.arg("-c").arg(file);
    }
    command
        .args(["syn2mas", verb, "--synapse-config"])
        .arg(yaml)
        .current_dir(cli.dir.path());
    for variable in [
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGDATABASE",
        "PGSSLMODE",
    ] {
        command.env_remove(variable);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run gatehouse")
}

async fn psycopg2_section_completed_by_libpq_environment(db: TestDb) {
    let Some(synapse) = SynapseFixture::postgres().await else {
        return;
    };
    let url = url::Url::parse(&synapse.uri).expect("fixture URL");
    // Only the database name in homeserver.yaml, the way a local Synapse often has it; host,
    // port and user come from the environment.
    let mut config: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(&synapse.homeserver_yaml).expect("homeserver.yaml"),
    )
    .expect("YAML");
    config["database"] = serde_yaml_ng::from_str(&format!(
        "{{name: psycopg2, args: {{database: {}}}}}",
        url.path().trim_start_matches('/')
    ))
    .expect("database section");
    let yaml = synapse.dir.path().join("homeserver-libpq.yaml");
    std::fs::write(&yaml, serde_yaml_ng::to_string(&config).expect("YAML")).expect("write");
    let env = [
        ("PGHOST", url.host_str().expect("host").to_owned()),
        ("PGPORT", url.port().unwrap_or(5432).to_string()),
        ("PGUSER", url.username().to_owned()),
    ];
    let cli = gatehouse_for_synapse(&db);
    cli.ok(&["database", "migrate"]);

    // Without the environment, libpq's defaults do not reach the test server: a clear error.
    let lost = syn2mas_from_config(&cli, &yaml, "check", &[]);
    assert!(!lost.status.success());
    let text = String::from_utf8_lossy(&lost.stderr);
    assert!(text.contains("Synapse database"), "{text}");

    let check = syn2mas_from_config(&cli, &yaml, "check", &env);
    let text = String::from_utf8_lossy(&check.stderr);
    assert!(
        matches!(check.status.code(), Some(0 | 11)),
        "check through PG* variables: {text}"
    );
    let migrate = syn2mas_from_config(&cli, &yaml, "migrate", &env);
    let text = String::from_utf8_lossy(&migrate.stderr);
    assert_eq!(migrate.status.code(), Some(0), "{text}");
    verify_against_manifest(&db.store().await, &synapse.manifest).await;
}

async fn refuses_while_synapse_writes_to_postgres(db: TestDb) {
    let Some(synapse) = SynapseFixture::postgres().await else {
        return;
    };
    let cli = gatehouse_for_synapse(&db);
    cli.ok(&["database", "migrate"]);
    // A Synapse in the middle of a write: a transaction holding a row lock on `users`.
    let mut running = PgConnection::connect(&synapse.uri).await.expect("connect");
    let mut tx = running.begin().await.expect("begin");
    sqlx::query("UPDATE users SET admin = admin WHERE name = (SELECT min(name) FROM users)")
        .execute(&mut *tx)
        .await
        .expect("update");

    let refused = syn2mas(&cli, &synapse, &["migrate"]);
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "migrated under a running Synapse"
    );
    assert!(
        text.contains("Synapse seems to be running") && text.contains("stop Synapse"),
        "{text}"
    );
    let store = db.store().await;
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(users, 0, "nothing written");
    // A dry run only reads: it goes ahead.
    let dry = syn2mas(&cli, &synapse, &["migrate", "--dry-run"]);
    assert_eq!(
        dry.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );

    tx.rollback().await.expect("rollback");
    running.close().await.ok();
    let migrated = syn2mas(&cli, &synapse, &["migrate"]);
    assert_eq!(
        migrated.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    verify_against_manifest(&store, &synapse.manifest).await;
}

on_both_backends!(
    psycopg2_section_completed_by_libpq_environment,
    refuses_while_synapse_writes_to_postgres,
);

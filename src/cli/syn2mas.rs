//! `gatehouse syn2mas check|migrate`: move a Synapse homeserver's users, passwords, emails,
//! upstream links, devices and tokens into Gatehouse. The importer crate reads Synapse and runs
//! the checks; this module gathers what it needs to know about Gatehouse and writes through
//! the store's bulk sink.
//!
//! Exit codes follow MAS: 10 when a check found errors, 11 when `check` found only warnings.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Args, Subcommand};
use gatehouse_importer::{
    checks::{self, CheckOptions, Severity, TargetFacts, TargetProvider, TargetScheme},
    migrate::{self, MigrateOptions},
    progress::ProgressMode,
    source::{SourceLocation, SynapseDb},
    synapse_config::SynapseConfig,
};
use ulid::Ulid;

use super::setup::{self, ConfigSources};
use crate::{
    config::{PasswordAlgorithm, RootConfig},
    domain::SystemClock,
    store::{
        Store,
        bulk::{BulkSink, MIGRATION_TABLES},
    },
};

/// Exit code when a check found blocking errors.
pub const EXIT_ERRORS: u8 = 10;
/// Exit code when `check` found warnings only.
pub const EXIT_WARNINGS: u8 = 11;

#[derive(Debug, Subcommand)]
pub enum Syn2masCommand {
    /// Check that Synapse and Gatehouse are ready for a migration (exit 10: errors, 11: warnings).
    Check(Syn2masArgs),
    /// Check, then migrate (proceeds on warnings, stops on errors).
    Migrate {
        #[command(flatten)]
        args: Syn2masArgs,
        /// Do all the work, including constraint checks, then roll back: the Gatehouse
        /// database is left as it was. Does not lock Synapse's tables.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct Syn2masArgs {
    /// Synapse's homeserver.yaml; repeat to merge several (later top-level keys win).
    #[arg(long = "synapse-config", value_name = "FILE", required = true)]
    synapse_config: Vec<PathBuf>,
    /// Connect to this Synapse database instead of the one in homeserver.yaml
    /// (`postgresql://…` or `sqlite:///path/homeserver.db`).
    #[arg(long, value_name = "URI")]
    synapse_database_uri: Option<String>,
    /// Skip (with a warning) links to Synapse auth providers that have no Gatehouse provider.
    #[arg(long)]
    ignore_missing_auth_providers: bool,
    /// Map a Synapse auth provider to a Gatehouse upstream provider (repeatable); otherwise
    /// providers match on `synapse_idp_id`.
    #[arg(long = "upstream-provider-mapping", value_name = "SYNAPSE_IDP_ID:PROVIDER_ULID", value_parser = parse_mapping)]
    upstream_provider_mapping: Vec<(String, Ulid)>,
    /// Write a CSV report: one row per Synapse user, with what was carried and what was not.
    #[arg(long, value_name = "FILE.csv")]
    report: Option<PathBuf>,
}

fn parse_mapping(text: &str) -> Result<(String, Ulid), String> {
    let (idp, id) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} is not SYNAPSE_IDP_ID:PROVIDER_ULID"))?;
    let id = Ulid::from_string(id).map_err(|e| format!("{id:?} is not a ULID: {e}"))?;
    Ok((idp.to_owned(), id))
}

pub async fn run(sources: &ConfigSources, command: Syn2masCommand) -> anyhow::Result<ExitCode> {
    let (args, mode) = match command {
        Syn2masCommand::Check(args) => (args, Mode::Check),
        Syn2masCommand::Migrate { args, dry_run } => {
            (args, if dry_run { Mode::DryRun } else { Mode::Migrate })
        }
    };
    let started = std::time::Instant::now();
    let config = sources.load()?;
    let synapse = SynapseConfig::load(&args.synapse_config)?;
    let store = setup::connect_and_migrate(&config).await?;
    let facts = target_facts(&config, &store).await?;

    let location = SourceLocation::resolve(&synapse, args.synapse_database_uri.as_deref())?;
    let mut db = SynapseDb::open(&location, &synapse, mode == Mode::Migrate).await?;
    let options = CheckOptions {
        ignore_missing_auth_providers: args.ignore_missing_auth_providers,
        provider_mapping: args.upstream_provider_mapping.clone(),
    };
    let outcome = checks::run_checks(&synapse, &mut db, &facts, &options).await?;
    for finding in &outcome.findings {
        match finding.severity {
            Severity::Error => eprintln!("error: {}", finding.message),
            Severity::Warning => eprintln!("warning: {}", finding.message),
        }
    }
    if outcome.has_errors() {
        eprintln!(
            "error: {} blocking problem(s) found; fix them and run again",
            outcome
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count()
        );
        db.close().await.ok();
        return Ok(ExitCode::from(EXIT_ERRORS));
    }
    if mode == Mode::Check {
        db.close().await?;
        if outcome.has_warnings() {
            eprintln!("check passed with warnings; `syn2mas migrate` will proceed");
            return Ok(ExitCode::from(EXIT_WARNINGS));
        }
        eprintln!("check passed: ready to migrate");
        return Ok(ExitCode::SUCCESS);
    }

    let provider_ids: Vec<Ulid> = outcome.provider_map.values().copied().collect();
    if mode == Mode::Migrate {
        // As MAS does: make sure the configured upstream providers exist before linking users.
        crate::cli::upstream_sync::sync_upstream_providers(&store, &config, &SystemClock).await?;
    }
    let url = config.database.connection_url()?;
    store.close().await;
    let setup = started.elapsed();
    let mut sink = BulkSink::begin(&url).await?;
    if mode == Mode::DryRun {
        // Providers not synced yet exist only inside the rolled-back transaction.
        sink.ensure_providers(&provider_ids).await?;
    }
    let migrate_options = MigrateOptions {
        server_name: synapse.server_name.clone(),
        provider_map: outcome.provider_map.clone(),
        now_ms: migrate::now_ms(),
        batch_size: 10_000,
        per_user_report: args.report.is_some(),
        progress: ProgressMode::detect(),
    };
    let begin = started.elapsed() - setup;
    let report = migrate::migrate(&mut db, &mut sink, &migrate_options).await?;
    db.close().await?;
    let rebuilding = std::time::Instant::now();
    sink.restore_constraints().await?;
    let rebuild = rebuilding.elapsed();
    let ending = std::time::Instant::now();
    match mode {
        Mode::DryRun => sink.rollback().await?,
        _ => sink.commit().await?,
    }
    let end = ending.elapsed();
    eprint!("{}", report.summary());
    eprintln!(
        "phases: setup and checks {:.2} s, begin (drop keys / staging) {:.2} s, copy {:.2} s (target busy {:.2} s, reader blocked {:.2} s), rebuild keys (PostgreSQL: finish loads, keys, foreign keys, swap) {:.2} s, {} {:.2} s",
        setup.as_secs_f64(),
        begin.as_secs_f64(),
        report.elapsed.as_secs_f64(),
        report.write_busy.as_secs_f64(),
        report.read_blocked.as_secs_f64(),
        rebuild.as_secs_f64(),
        if mode == Mode::DryRun {
            "rollback"
        } else {
            "commit"
        },
        end.as_secs_f64(),
    );
    if let Some(path) = &args.report {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create report {}", path.display()))?;
        report
            .write_csv(std::io::BufWriter::new(file))
            .with_context(|| format!("cannot write report {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    if mode == Mode::DryRun {
        eprintln!("dry run: everything was written and checked, then rolled back");
    } else {
        eprintln!("migration complete");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Check,
    DryRun,
    Migrate,
}

/// What the checks need to know about Gatehouse.
async fn target_facts(config: &RootConfig, store: &Store) -> anyhow::Result<TargetFacts> {
    let v1_scheme = match config.passwords.schemes.iter().find(|s| s.version == 1) {
        Some(scheme) => Some(TargetScheme {
            algorithm: match scheme.algorithm {
                PasswordAlgorithm::Argon2id => "argon2id",
                PasswordAlgorithm::Bcrypt => "bcrypt",
                PasswordAlgorithm::Pbkdf2 => "pbkdf2",
            }
            .to_owned(),
            pepper: scheme.pepper()?,
            unicode_normalization: scheme.unicode_normalization,
        }),
        None => None,
    };
    let mut non_empty_tables = Vec::new();
    for table in MIGRATION_TABLES {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(store.pool())
                .await?;
        if count > 0 {
            non_empty_tables.push((table.to_owned(), count));
        }
    }
    Ok(TargetFacts {
        homeserver: config.matrix.homeserver.clone(),
        passwords_enabled: config.passwords.enabled,
        v1_scheme,
        providers: config
            .upstream_oauth2
            .providers
            .iter()
            .map(|p| TargetProvider {
                id: p.id,
                synapse_idp_id: p.synapse_idp_id.clone(),
            })
            .collect(),
        captcha_configured: config.captcha.service.is_some(),
        tos_uri_set: config.branding.tos_uri.is_some(),
        non_empty_tables,
    })
}

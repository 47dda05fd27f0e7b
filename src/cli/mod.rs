//! The command line: global flags, config discovery, logging, and dispatch to one module per
//! verb group. Commands print results on stdout, messages on stderr, and exit non-zero with a
//! one-line `error: …` when something is wrong.

mod config;
mod database;
mod doctor;
mod embedded;
mod manage;
mod openapi;
mod server;
mod setup;
mod syn2mas;
mod templates;
pub mod upstream_sync;
mod worker;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};

/// Gatehouse: a Matrix authentication service (OAuth 2.0 / OpenID Connect provider for Synapse).
///
/// Reads the same `config.yaml` as the Matrix Authentication Service. With no configuration at
/// all, `gatehouse server` runs on an embedded default: a data directory holding a generated
/// configuration and a SQLite database.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file; repeat to merge several in order (later files win). Defaults to
    /// $GATEHOUSE_CONFIG or $MAS_CONFIG (`:`-separated lists), then ./config.yaml, then the
    /// embedded default's <data-dir>/config.yaml.
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    config: Vec<PathBuf>,

    /// Directory of the embedded default (generated config + SQLite database).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_DATA_DIR",
        default_value = "gatehouse-data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,

    /// Log output format (level from RUST_LOG, default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate, check, print or sync the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Manage the database schema.
    #[command(subcommand)]
    Database(database::DatabaseCommand),
    /// Run the HTTP server (the default when no command is given).
    Server(server::ServerArgs),
    /// Administrative actions on users, sessions and tokens.
    #[command(subcommand)]
    Manage(manage::ManageCommand),
    /// Check the homeserver integration end to end and say what to fix.
    Doctor,
    /// Run only the background job worker (see `server --no-worker`).
    Worker,
    /// The admin API's OpenAPI document.
    #[command(subcommand, hide = true)]
    Openapi(openapi::OpenApiCommand),
    /// Migrate users, passwords, emails, devices and tokens from a Synapse homeserver.
    #[command(subcommand)]
    Syn2mas(syn2mas::Syn2masCommand),
    /// Check the page templates (embedded, or from `templates.path`) by rendering each.
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
}

/// Parse the command line, run the command, and turn its outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    crate::crypto::install_tls_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out causes whose text the message already
/// includes (many errors embed their source in their own message).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let sources = setup::ConfigSources {
        explicit: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
    };
    match cli.command {
        None => server::run(&sources, server::ServerArgs::default()).await,
        Some(Command::Server(args)) => server::run(&sources, args).await,
        Some(Command::Config(command)) => config::run(&sources, command).await,
        Some(Command::Database(command)) => database::run(&sources, command).await,
        Some(Command::Manage(command)) => manage::run(&sources, command).await,
        Some(Command::Doctor) => doctor::run(&sources).await,
        Some(Command::Worker) => worker::run(&sources).await,
        Some(Command::Openapi(command)) => openapi::run(command),
        Some(Command::Syn2mas(command)) => syn2mas::run(&sources, command).await,
        Some(Command::Templates(command)) => templates::run(&sources, command),
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Create `path` readable and writable by its owner only (mode 0600): what the CLI writes to
/// files (configurations, user exports with password hashes) holds secrets. Refuses an existing
/// file unless `overwrite`; an overwritten file is narrowed to 0600 as well.
pub(crate) fn create_private_file(
    path: &std::path::Path,
    overwrite: bool,
) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let file = options.open(path)?;
    if overwrite {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

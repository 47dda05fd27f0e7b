//! `gatehouse database migrate`.

use std::process::ExitCode;

use clap::Subcommand;

use super::setup::{self, ConfigSources};

#[derive(Debug, Subcommand)]
pub enum DatabaseCommand {
    /// Apply pending schema migrations (running it again is a no-op).
    Migrate,
}

pub async fn run(sources: &ConfigSources, command: DatabaseCommand) -> anyhow::Result<ExitCode> {
    match command {
        DatabaseCommand::Migrate => {
            let config = sources.load()?;
            let store = setup::connect(&config).await?;
            let pending = store.pending_migrations().await?;
            store.migrate().await?;
            if pending.is_empty() {
                tracing::info!(
                    backend = store.backend().name(),
                    "database schema is up to date"
                );
            } else {
                tracing::info!(backend = store.backend().name(), applied = ?pending, "applied migrations");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

//! `gatehouse config generate|check|dump|sync`.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Subcommand;

use super::setup::{self, ConfigSources};
use crate::{
    config::{self, RootConfig},
    crypto::encryption::Encrypter,
    domain::{
        Clock, SystemClock,
        oauth2_clients::{GrantType, GrantTypes, OAuth2Client},
    },
    store::Store,
};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration: syntax, values, and every file, key and secret it refers to.
    Check,
    /// Print the merged configuration as YAML.
    Dump {
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Generate a complete configuration with fresh secrets (encryption key, RSA and EC keys).
    Generate {
        /// Write to this file instead of stdout (refuses to overwrite).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Fill homeserver, passwords, account flags and upstream providers from Synapse's
        /// homeserver.yaml (repeat to merge several).
        #[arg(short = 's', long = "synapse-config", value_name = "FILE")]
        synapse_config: Vec<PathBuf>,
    },
    /// Apply migrations and copy the static `clients` into the database.
    Sync {
        /// Also delete static clients that are no longer in the configuration.
        #[arg(long)]
        prune: bool,
        /// Only report what would change.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(sources: &ConfigSources, command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Check => {
            let config = sources.load()?;
            setup::check_deep(&config)?;
            eprintln!("Configuration file looks good");
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Dump { output } => {
            let config = sources.load()?;
            write_output(output, &config::to_yaml(&config)?)?;
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Generate {
            output,
            synapse_config,
        } => {
            let mut config = config::generate(&mut crate::domain::RandomSource::System.rng())?;
            if !synapse_config.is_empty() {
                let synapse =
                    gatehouse_importer::synapse_config::SynapseConfig::load(&synapse_config)?;
                for warning in config::apply_synapse_config(
                    &mut config,
                    &synapse,
                    &mut crate::domain::RandomSource::System.rng(),
                )? {
                    tracing::warn!("{warning}");
                }
            }
            write_output(output, &config::to_yaml(&config)?)?;
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Sync { prune, dry_run } => {
            let config = sources.load()?;
            let store = setup::connect_and_migrate(&config).await?;
            sync_clients(&store, &config, &SystemClock, prune, dry_run).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_output(output: Option<PathBuf>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            use std::io::Write;
            // The configuration holds the secrets: owner-only, like the embedded default's.
            let mut file = super::create_private_file(&path, false)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// What `config sync` did (or would do, with `--dry-run`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: usize,
    pub updated: usize,
    pub pruned: usize,
    pub kept_extra: usize,
}

/// Copy the `clients` section into the database: add new clients, update changed ones, and
/// with `prune` delete static clients that left the configuration.
pub async fn sync_clients(
    store: &Store,
    config: &RootConfig,
    clock: &dyn Clock,
    prune: bool,
    dry_run: bool,
) -> anyhow::Result<SyncReport> {
    let encrypter = Encrypter::new(&config.secrets.encryption_key()?);
    let mut repo = store.repo().await?;
    let existing = repo.oauth2_clients().list_static().await?;
    let mut report = SyncReport::default();
    for (index, client) in config.clients.iter().enumerate() {
        let secret = client
            .client_secret()
            .with_context(|| format!("clients[{index}]"))?;
        let current = existing.iter().find(|c| c.id == client.client_id);
        // Keep the stored ciphertext when the secret did not change (encryption is randomised).
        let encrypted_client_secret = match (&secret, current) {
            (None, _) => None,
            (Some(secret), Some(current))
                if current
                    .encrypted_client_secret
                    .as_deref()
                    .and_then(|c| encrypter.decrypt_str(c).ok())
                    .as_deref()
                    == Some(secret.as_str()) =>
            {
                current.encrypted_client_secret.clone()
            }
            (Some(secret), _) => Some(encrypter.encrypt_str(secret)?),
        };
        let row = OAuth2Client {
            id: client.client_id,
            is_static: true,
            encrypted_client_secret,
            token_endpoint_auth_method: Some(client.client_auth_method.into()),
            jwks: client.jwks.as_ref().map(|jwks| jwks.to_string()),
            jwks_uri: client.jwks_uri.as_ref().map(|uri| uri.to_string()),
            redirect_uris: client.redirect_uris.clone(),
            client_name: client.client_name.clone(),
            client_uri: client.client_uri.as_ref().map(|uri| uri.to_string()),
            grant_types: GrantTypes::empty()
                .with(GrantType::AuthorizationCode, true)
                .with(GrantType::RefreshToken, true)
                // Every client that authenticates is confidential, a private key as much as
                // a shared secret (RFC 6749 §2.1).
                .with(
                    GrantType::ClientCredentials,
                    client.client_auth_method != config::ClientAuthMethod::None,
                )
                .with(GrantType::DeviceCode, true),
            metadata: Default::default(),
            created_at: current.map_or_else(|| clock.now(), |c| c.created_at),
        };
        match current {
            None => {
                tracing::info!(client_id = %client.client_id, dry_run, "adding static client");
                report.added += 1;
            }
            Some(current) if *current != row => {
                tracing::info!(client_id = %client.client_id, dry_run, "updating static client");
                report.updated += 1;
            }
            Some(_) => continue,
        }
        if !dry_run {
            repo.oauth2_clients().upsert(&row).await?;
        }
    }
    for stale in existing.iter().filter(|c| {
        !config
            .clients
            .iter()
            .any(|configured| configured.client_id == c.id)
    }) {
        if prune {
            tracing::info!(client_id = %stale.id, dry_run, "removing static client no longer in the configuration");
            report.pruned += 1;
            if !dry_run {
                repo.oauth2_clients().delete(stale.id).await?;
            }
        } else {
            tracing::warn!(client_id = %stale.id, "static client is no longer in the configuration; run `config sync --prune` to remove it");
            report.kept_extra += 1;
        }
    }
    if !dry_run {
        repo.save().await?;
    }
    eprintln!(
        "clients: {} added, {} updated, {} removed{}",
        report.added,
        report.updated,
        report.pruned,
        if dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    Ok(report)
}

//! Turning configuration into running pieces: finding and loading the config files, connecting
//! the database, building the password hasher. Shared by every command.

use std::path::PathBuf;

use anyhow::Context;

use crate::{
    config::{self, RootConfig},
    store::{PoolSettings, Store},
};

/// Where the configuration may come from (global flags).
#[derive(Debug, Clone)]
pub struct ConfigSources {
    pub explicit: Vec<PathBuf>,
    pub data_dir: PathBuf,
}

impl ConfigSources {
    /// The files to read, in order: `-c` flags, then `GATEHOUSE_CONFIG`, then `MAS_CONFIG`, then
    /// `./config.yaml`, then the embedded default's config. `None` when none of these exists.
    pub fn files(&self) -> Option<Vec<PathBuf>> {
        if !self.explicit.is_empty() {
            return Some(self.explicit.clone());
        }
        for variable in ["GATEHOUSE_CONFIG", "MAS_CONFIG"] {
            if let Ok(value) = std::env::var(variable)
                && !value.trim().is_empty()
            {
                return Some(config::config_paths(&[], Some(&value)));
            }
        }
        let local = PathBuf::from("config.yaml");
        if local.exists() {
            return Some(vec![local]);
        }
        let embedded = super::embedded::config_path(&self.data_dir);
        embedded.exists().then(|| vec![embedded])
    }

    /// Load the configuration, or explain how to get one.
    pub fn load(&self) -> anyhow::Result<RootConfig> {
        let files = self.files().ok_or_else(|| {
            anyhow::anyhow!(
                "no configuration found: pass -c FILE, set GATEHOUSE_CONFIG, create ./config.yaml \
                 (gatehouse config generate -o config.yaml), or run `gatehouse server` once to create \
                 the embedded default in {}",
                self.data_dir.display()
            )
        })?;
        load_files(&files)
    }
}

/// Load and validate configuration files, logging each warning.
pub fn load_files(files: &[PathBuf]) -> anyhow::Result<RootConfig> {
    let loaded = config::load(files)?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded.config)
}

/// Connect to the configured database (without migrating).
pub async fn connect(config: &RootConfig) -> anyhow::Result<Store> {
    let url = config.database.connection_url()?;
    let settings = PoolSettings {
        min_connections: config.database.min_connections,
        max_connections: config.database.max_connections,
        connect_timeout: std::time::Duration::from_secs(config.database.connect_timeout),
        idle_timeout: config
            .database
            .idle_timeout
            .map(std::time::Duration::from_secs),
        max_lifetime: config
            .database
            .max_lifetime
            .map(std::time::Duration::from_secs),
    };
    Store::connect(&url, &settings)
        .await
        .with_context(|| format!("cannot connect to the database ({})", redact_url(&url)))
}

/// Connect and bring the schema up to date.
pub async fn connect_and_migrate(config: &RootConfig) -> anyhow::Result<Store> {
    let store = connect(config).await?;
    store.migrate().await?;
    Ok(store)
}

/// Check everything the configuration refers to: files, keys, secrets, schemes, templates, and
/// the listeners' TLS certificates and keys.
pub fn check_deep(config: &RootConfig) -> anyhow::Result<()> {
    config.secrets.encryption_key()?;
    config.keystore()?;
    config.password_hasher()?;
    config.matrix.secret()?;
    config.database.connection_url()?;
    for (index, client) in config.clients.iter().enumerate() {
        client
            .client_secret()
            .with_context(|| format!("clients[{index}]"))?;
    }
    config.email.transport()?;
    crate::templates::Templates::load(&config.templates)?;
    for (index, listener) in config.http.listeners.iter().enumerate() {
        if let Some(tls) = &listener.tls {
            crate::http::tls::server_config(tls, &format!("http.listeners[{index}].tls"))?;
        }
    }
    Ok(())
}

/// A database URL safe to print: the password replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

//! Copying `upstream_oauth2.providers` into `upstream_oauth_providers` (as MAS's config sync
//! does at startup, and `syn2mas migrate` before writing links). Providers that left the
//! configuration are kept: links may point at them.

use anyhow::Context;

use crate::{
    config::RootConfig,
    crypto::encryption::Encrypter,
    domain::{
        Clock,
        scopes::Scope,
        upstream::{UpstreamAuthMethod, UpstreamProvider},
    },
    store::Store,
};

/// Add or update every configured provider. Returns how many rows were added or changed.
pub async fn sync_upstream_providers(
    store: &Store,
    config: &RootConfig,
    clock: &dyn Clock,
) -> anyhow::Result<usize> {
    if config.upstream_oauth2.providers.is_empty() {
        return Ok(0);
    }
    let encrypter = Encrypter::new(&config.secrets.encryption_key()?);
    let mut repo = store.repo().await?;
    let existing = repo.upstream().list_providers().await?;
    let mut changed = 0;
    for (index, provider) in config.upstream_oauth2.providers.iter().enumerate() {
        let key = || format!("upstream_oauth2.providers[{index}]");
        let secret = provider.client_secret().with_context(key)?;
        let current = existing.iter().find(|p| p.id == provider.id);
        // Encryption is randomised: keep the stored ciphertext while the secret is unchanged.
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
        let mut rest = serde_json::to_value(provider).with_context(key)?;
        if let Some(map) = rest.as_object_mut() {
            map.remove("client_secret");
        }
        let token_endpoint_auth_method = UpstreamAuthMethod::parse(provider.auth_method())
            .with_context(|| format!("{}.token_endpoint_auth_method", key()))?;
        let scope = Scope::parse(provider.scope()).with_context(|| format!("{}.scope", key()))?;
        let row = UpstreamProvider {
            id: provider.id,
            issuer: provider.issuer.clone(),
            human_name: provider.human_name.clone(),
            brand_name: provider.brand_name.clone(),
            synapse_idp_id: provider.synapse_idp_id.clone(),
            client_id: provider.client_id.clone(),
            encrypted_client_secret,
            token_endpoint_auth_method,
            scope,
            ui_order: index as i64,
            config: rest,
            created_at: current.map_or_else(|| clock.now(), |c| c.created_at),
            disabled_at: if provider.enabled {
                None
            } else {
                Some(
                    current
                        .and_then(|c| c.disabled_at)
                        .unwrap_or_else(|| clock.now()),
                )
            },
        };
        if current != Some(&row) {
            tracing::info!(provider_id = %provider.id, "syncing upstream provider");
            repo.upstream().upsert_provider(&row).await?;
            changed += 1;
        }
    }
    repo.save().await?;
    Ok(changed)
}

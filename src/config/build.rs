//! The long-lived pieces a checked configuration describes: the password hasher, the signing
//! keystore, the homeserver client. The CLI, the server and tests build them the same way.

use anyhow::Context;

use crate::{
    config::{self, RootConfig},
    crypto::{
        keys::{Keystore, parse_private_key},
        passwords::{PasswordAlgorithm, PasswordHasher, PasswordScheme},
    },
};

impl RootConfig {
    /// The password hasher described by `passwords`.
    pub fn password_hasher(&self) -> anyhow::Result<PasswordHasher> {
        let config = self;
        let mut schemes = Vec::with_capacity(config.passwords.schemes.len());
        for scheme in &config.passwords.schemes {
            schemes.push(PasswordScheme {
                version: scheme.version,
                algorithm: match scheme.algorithm {
                    config::PasswordAlgorithm::Argon2id => PasswordAlgorithm::Argon2id,
                    config::PasswordAlgorithm::Bcrypt => PasswordAlgorithm::Bcrypt {
                        cost: scheme.bcrypt_cost(),
                    },
                    config::PasswordAlgorithm::Pbkdf2 => PasswordAlgorithm::Pbkdf2,
                },
                pepper: scheme.pepper()?,
                unicode_normalization: scheme.unicode_normalization,
            });
        }
        PasswordHasher::new(schemes, config.passwords.minimum_complexity)
            .context("passwords.schemes")
    }

    /// Parse every configured signing key into a keystore (RS256 is mandatory).
    pub fn keystore(&self) -> anyhow::Result<Keystore> {
        let config = self;
        let mut keys = Vec::new();
        for (index, source) in config.secrets.key_sources()?.into_iter().enumerate() {
            let key = parse_private_key(&source.pem_or_der, source.password.as_deref())
                .with_context(|| format!("secrets.keys[{index}]"))?;
            keys.push((source.kid, key));
        }
        Keystore::new(keys).context("secrets.keys")
    }

    /// The homeserver client described by `matrix`.
    pub fn synapse_client(&self) -> anyhow::Result<crate::synapse::SynapseClient> {
        let config = self;
        Ok(crate::synapse::SynapseClient::new(
            &config.matrix,
            config.matrix.secret()?,
        )?)
    }
}

//! `config generate` and `config dump`: a complete configuration with fresh secrets, and its
//! YAML serialization. Dumps contain secrets in clear (that is their purpose).

use rand::distributions::Alphanumeric;
use rand::{CryptoRng, Rng, RngCore};

use super::{ConfigError, KeyConfig, RootConfig};

fn random_alphanumeric(rng: &mut (impl CryptoRng + RngCore), len: usize) -> String {
    (0..len)
        .map(|_| char::from(rng.sample(Alphanumeric)))
        .collect()
}

/// A complete, valid configuration: defaults everywhere, plus a fresh 32-byte encryption key,
/// one RSA-2048 and one EC P-256 signing key (PEM, each with a random 10-character `kid`) and a
/// random 32-character `matrix.secret`.
pub fn generate(rng: &mut (impl CryptoRng + RngCore)) -> Result<RootConfig, ConfigError> {
    let mut config = RootConfig::default();

    let mut encryption = [0u8; 32];
    rng.fill_bytes(&mut encryption);
    config.secrets.encryption = Some(hex::encode(encryption));

    let rsa_pem = {
        use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
        let key = rsa::RsaPrivateKey::new(rng, 2048).map_err(|e| ConfigError::Generate {
            what: "the RSA signing key",
            message: e.to_string(),
        })?;
        key.to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| ConfigError::Generate {
                what: "the RSA signing key",
                message: e.to_string(),
            })?
            .to_string()
    };
    let ec_pem = {
        use p256::pkcs8::LineEnding;
        let key = p256::SecretKey::random(rng);
        key.to_sec1_pem(LineEnding::LF)
            .map_err(|e| ConfigError::Generate {
                what: "the EC signing key",
                message: e.to_string(),
            })?
            .to_string()
    };
    config.secrets.keys = vec![
        KeyConfig {
            kid: Some(random_alphanumeric(rng, 10)),
            key: Some(rsa_pem),
            ..KeyConfig::default()
        },
        KeyConfig {
            kid: Some(random_alphanumeric(rng, 10)),
            key: Some(ec_pem),
            ..KeyConfig::default()
        },
    ];

    config.matrix.secret = Some(random_alphanumeric(rng, 32));

    config.validate()?;
    Ok(config)
}

/// The configuration as YAML. `None` values are left out, so `to_yaml -> from_str -> to_yaml`
/// gives back the same text.
pub fn to_yaml(config: &RootConfig) -> Result<String, ConfigError> {
    serde_yaml_ng::to_string(config).map_err(|e| ConfigError::Serialize(e.to_string()))
}

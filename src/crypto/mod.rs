//! Password schemes, signing keys, encryption of secrets at rest.
//!
//! This module owns the cryptographic primitives the rest of Gatehouse builds on, each configured
//! from the MAS-compatible `passwords` and `secrets` sections:
//!
//! - [`passwords`]: versioned password hashing schemes (argon2id, bcrypt, PBKDF2), Synapse-compatible
//!   verification, rehash-on-login and the zxcvbn complexity check, hashed on idle-priority
//!   threads of their own (`hashing_threads`);
//! - [`keys`]: parsing and generating the `secrets.keys[]` signing keys, RFC 7638 key ids and the
//!   published JWKS;
//! - [`jwt`]: signing JWTs with those keys, and verifying JWTs against another party's JWK Set
//!   or a shared secret;
//! - [`encryption`]: the `secrets.encryption` XChaCha20-Poly1305 encrypter for secrets stored in
//!   the database and cookies;
//! - [`successors`]: the keyed random source a refresh token's successors are drawn from.
//!
//! Nothing in here prints secret material through `Debug`, `Display` or error messages.

pub mod encryption;
mod hashing_threads;
pub mod jwt;
pub mod keys;
pub mod passwords;
pub mod successors;

use sha2::{Digest, Sha256};

/// SHA-256 digest of `bytes`.
pub fn sha256(bytes: impl AsRef<[u8]>) -> [u8; 32] {
    Sha256::digest(bytes.as_ref()).into()
}

/// Make ring the process-wide rustls crypto provider (reqwest is built without one, so that
/// the whole binary uses ring and no second TLS stack). Safe to call more than once.
pub fn install_tls_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Err means another provider was installed first, which serves just as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_known_answer() {
        // FIPS 180-2 appendix B.1 ("abc").
        assert_eq!(
            hex::encode(super::sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

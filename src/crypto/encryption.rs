//! Encryption of secrets at rest, keyed by MAS `secrets.encryption`.
//!
//! This module owns the [`Encrypter`] used for values that must be recoverable but must not sit in
//! the database or in cookies in the clear (e.g. upstream OAuth client secrets). It uses
//! XChaCha20-Poly1305: an AEAD, so tampering is detected, with 24-byte nonces that are safe to pick
//! at random for every message under one long-lived key.
//!
//! The stored form is `base64(nonce || ciphertext || tag)` with the standard, padded alphabet.
//! The key must never change once data has been encrypted with it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::domain::{RandomSource, redact::Redacted};

/// XChaCha20 nonce length in bytes.
const NONCE_LEN: usize = 24;

/// Errors from building an [`Encrypter`] or from encrypting/decrypting with it.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    /// The configured key is not exactly 64 hexadecimal characters.
    #[error("encryption key must be exactly 64 hexadecimal characters (32 bytes)")]
    InvalidKey,
    /// The stored value is not valid base64.
    #[error("encrypted value is not valid base64")]
    Base64,
    /// The stored value is too short to contain a nonce and a tag.
    #[error("encrypted value is too short")]
    TooShort,
    /// Authentication failed: wrong key or modified ciphertext. Also returned (opaquely) by
    /// `encrypt` if the AEAD refuses a message, which only happens for absurd lengths.
    #[error("decryption failed: wrong key or corrupted data")]
    Aead,
    /// `decrypt_str` produced bytes that are not UTF-8.
    #[error("decrypted value is not valid UTF-8")]
    Utf8,
}

/// Encrypts and decrypts secrets with the `secrets.encryption` key.
#[derive(Clone)]
pub struct Encrypter {
    aead: XChaCha20Poly1305,
    random: RandomSource,
}

impl fmt::Debug for Encrypter {
    // Never show the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encrypter").field("key", &Redacted).finish()
    }
}

impl Encrypter {
    /// Builds an encrypter from a raw 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            aead: XChaCha20Poly1305::new(key.into()),
            random: RandomSource::System,
        }
    }

    /// Draw nonces from `random` (tests use a seeded source).
    pub fn with_random(mut self, random: RandomSource) -> Self {
        self.random = random;
        self
    }

    /// Builds an encrypter from the configuration form of the key: exactly 64 hex characters.
    ///
    /// Surrounding whitespace (such as the trailing newline of an `encryption_file`) is ignored.
    pub fn from_hex(key: &str) -> Result<Self, EncryptionError> {
        let key = key.trim();
        if key.len() != 64 {
            return Err(EncryptionError::InvalidKey);
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(key, &mut bytes).map_err(|_| EncryptionError::InvalidKey)?;
        Ok(Self::new(&bytes))
    }

    /// Encrypts `plaintext` under a fresh random nonce; returns `base64(nonce || ciphertext)`.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, EncryptionError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut self.random.rng());
        let ciphertext = self
            .aead
            .encrypt(&nonce, plaintext)
            .map_err(|_| EncryptionError::Aead)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts a value produced by [`encrypt`](Self::encrypt).
    pub fn decrypt(&self, encrypted: &str) -> Result<Vec<u8>, EncryptionError> {
        let bytes = STANDARD
            .decode(encrypted.trim())
            .map_err(|_| EncryptionError::Base64)?;
        // 16 bytes of Poly1305 tag follow the ciphertext, even for an empty plaintext.
        if bytes.len() < NONCE_LEN + 16 {
            return Err(EncryptionError::TooShort);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        self.aead
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| EncryptionError::Aead)
    }

    /// [`encrypt`](Self::encrypt) for text.
    pub fn encrypt_str(&self, plaintext: &str) -> Result<String, EncryptionError> {
        self.encrypt(plaintext.as_bytes())
    }

    /// [`decrypt`](Self::decrypt) for text.
    pub fn decrypt_str(&self, encrypted: &str) -> Result<String, EncryptionError> {
        String::from_utf8(self.decrypt(encrypted)?).map_err(|_| EncryptionError::Utf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn encrypter() -> Encrypter {
        Encrypter::from_hex(KEY_HEX).expect("valid key")
    }

    #[test]
    fn round_trip() {
        let enc = encrypter();
        let sealed = enc.encrypt_str("client-secret-💡").expect("encrypt");
        assert_eq!(
            enc.decrypt_str(&sealed).expect("decrypt"),
            "client-secret-💡"
        );
        // Empty plaintexts are valid too.
        let sealed = enc.encrypt(b"").expect("encrypt");
        assert_eq!(enc.decrypt(&sealed).expect("decrypt"), b"");
    }

    #[test]
    fn nonces_are_fresh() {
        let enc = encrypter();
        assert_ne!(
            enc.encrypt(b"same").expect("encrypt"),
            enc.encrypt(b"same").expect("encrypt")
        );
    }

    #[test]
    fn layout_is_nonce_then_ciphertext_and_tag() {
        let sealed = encrypter().encrypt(b"12345").expect("encrypt");
        let raw = STANDARD.decode(sealed).expect("base64");
        assert_eq!(raw.len(), NONCE_LEN + 5 + 16);
    }

    #[test]
    fn tampering_fails() {
        let enc = encrypter();
        let sealed = enc.encrypt(b"secret").expect("encrypt");
        let mut raw = STANDARD.decode(&sealed).expect("base64");
        for index in [0, NONCE_LEN, raw.len() - 1] {
            raw[index] ^= 0x01;
            assert!(matches!(
                enc.decrypt(&STANDARD.encode(&raw)),
                Err(EncryptionError::Aead)
            ));
            raw[index] ^= 0x01;
        }
        assert!(matches!(
            enc.decrypt("AAAA"),
            Err(EncryptionError::TooShort)
        ));
        assert!(matches!(
            enc.decrypt("not base64!"),
            Err(EncryptionError::Base64)
        ));
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = encrypter().encrypt(b"secret").expect("encrypt");
        let other = Encrypter::new(&[7u8; 32]);
        assert!(matches!(other.decrypt(&sealed), Err(EncryptionError::Aead)));
    }

    #[test]
    fn key_must_be_64_hex_chars() {
        assert!(Encrypter::from_hex(&KEY_HEX[..62]).is_err());
        assert!(Encrypter::from_hex(&format!("{KEY_HEX}00")).is_err());
        assert!(Encrypter::from_hex(&KEY_HEX.replace('0', "g")).is_err());
        assert!(Encrypter::from_hex(&KEY_HEX.to_uppercase()).is_ok());
        assert_eq!(
            format!("{:?}", encrypter()),
            "Encrypter { key: [redacted] }"
        );
    }
}

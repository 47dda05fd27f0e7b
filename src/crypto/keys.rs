//! Signing keys, as configured in MAS `secrets.keys[]`.
//!
//! This module owns parsing private keys from the formats MAS accepts (PKCS#1, PKCS#8 plain or
//! encrypted, SEC1; PEM or DER), generating new ones for `config generate`, deriving their RFC 7638
//! key ids, and publishing their public halves as a JWK Set.
//!
//! Supported key types are RSA and EC on P-256, P-384 and secp256k1 (K-256). At least one RSA key is
//! required because OpenID Connect makes RS256 mandatory (OIDC Core §15.1).

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use pkcs8::der::oid::ObjectIdentifier;
use pkcs8::der::pem::LineEnding;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::json;

/// `rsaEncryption` (RFC 8017 appendix C).
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-ecPublicKey` (RFC 5480 §2.1.1).
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp256r1` / P-256 (RFC 5480 §2.1.1.1).
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `secp384r1` / P-384 (RFC 5480 §2.1.1.1).
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// `secp256k1` (SEC 2 §2.4.1).
const OID_K256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");

/// Errors from parsing, generating or collecting signing keys. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key is an encrypted PKCS#8 document but no password was configured.
    #[error("encrypted key needs a password")]
    PasswordRequired,
    /// Decrypting an encrypted PKCS#8 document failed.
    #[error(
        "could not decrypt the encrypted PKCS#8 key: wrong password or unsupported encryption scheme"
    )]
    Decryption,
    /// The key is well-formed but of a type or curve Gatehouse cannot sign with.
    #[error("unsupported key type: {0} (supported: RSA, EC P-256, P-384 and secp256k1)")]
    UnsupportedKeyType(String),
    /// A PEM block whose label is not a private key.
    #[error(
        "unsupported PEM block \"{0}\" (expected RSA PRIVATE KEY, EC PRIVATE KEY, PRIVATE KEY or ENCRYPTED PRIVATE KEY)"
    )]
    UnsupportedPemLabel(String),
    /// A PEM key encrypted with OpenSSL's legacy `Proc-Type: 4,ENCRYPTED` headers.
    #[error(
        "legacy OpenSSL PEM encryption is not supported: convert the key to encrypted PKCS#8 (openssl pkcs8 -topk8)"
    )]
    UnsupportedPemEncryption,
    /// The data is PEM-looking but not valid PEM.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// DER data that is none of PKCS#8, encrypted PKCS#8, PKCS#1 or SEC1.
    #[error("unrecognised key format: expected PKCS#1, PKCS#8 or SEC1, in PEM or DER")]
    UnrecognisedFormat,
    /// The document was recognised but its content is invalid.
    #[error("invalid {format} key: {reason}")]
    Invalid {
        /// The recognised container format.
        format: &'static str,
        /// Parser message (structure only, no key bytes).
        reason: String,
    },
    /// Key generation or encoding failed.
    #[error("key generation failed: {0}")]
    Generation(String),
    /// A keystore without any RSA key.
    #[error("at least one RSA key is required, RS256 is mandatory")]
    NoRsaKey,
    /// Two keys with the same `kid`.
    #[error("duplicate key id \"{0}\"")]
    DuplicateKid(String),
}

/// A private key usable for signing JWTs.
#[derive(Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "a handful of long-lived keys; boxing RSA would only add an indirection"
)]
pub enum SigningKey {
    /// RSA, signs RS256.
    Rsa(rsa::RsaPrivateKey),
    /// NIST P-256, signs ES256.
    P256(p256::SecretKey),
    /// NIST P-384, signs ES384.
    P384(p384::SecretKey),
    /// secp256k1, signs ES256K (RFC 8812).
    K256(k256::SecretKey),
}

impl fmt::Debug for SigningKey {
    // Only the kind and the public thumbprint: private material must never reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kind", &self.kind())
            .field("thumbprint", &self.kid_thumbprint())
            .finish()
    }
}

/// Public key parameters, in JWK form (RFC 7518 §6), already base64url-encoded.
enum PublicParams {
    Rsa {
        n: String,
        e: String,
    },
    Ec {
        crv: &'static str,
        x: String,
        y: String,
    },
}

impl PublicParams {
    /// RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace. All values
    /// are base64url or fixed curve names, so no JSON escaping is needed.
    fn canonical_json(&self) -> String {
        match self {
            Self::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            Self::Ec { crv, x, y } => {
                format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
        }
    }

    fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(super::sha256(self.canonical_json()))
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// x and y of an uncompressed SEC1 point (`0x04 || x || y`).
fn ec_params(crv: &'static str, uncompressed: &[u8]) -> PublicParams {
    let coordinates = uncompressed.get(1..).unwrap_or_default();
    let (x, y) = coordinates.split_at(coordinates.len() / 2);
    PublicParams::Ec {
        crv,
        x: b64(x),
        y: b64(y),
    }
}

impl SigningKey {
    /// Short human name of the key type, e.g. for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RSA",
            Self::P256(_) => "EC P-256",
            Self::P384(_) => "EC P-384",
            Self::K256(_) => "EC secp256k1",
        }
    }

    /// JWS algorithm this key signs with (RFC 7518 §3.1, RFC 8812 §3.2).
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RS256",
            Self::P256(_) => "ES256",
            Self::P384(_) => "ES384",
            Self::K256(_) => "ES256K",
        }
    }

    /// Whether this is an RSA key.
    pub fn is_rsa(&self) -> bool {
        matches!(self, Self::Rsa(_))
    }

    fn public_params(&self) -> PublicParams {
        match self {
            Self::Rsa(key) => PublicParams::Rsa {
                n: b64(&key.n().to_bytes_be()),
                e: b64(&key.e().to_bytes_be()),
            },
            Self::P256(key) => {
                ec_params("P-256", key.public_key().to_encoded_point(false).as_bytes())
            }
            Self::P384(key) => {
                ec_params("P-384", key.public_key().to_encoded_point(false).as_bytes())
            }
            Self::K256(key) => ec_params(
                "secp256k1",
                key.public_key().to_encoded_point(false).as_bytes(),
            ),
        }
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url without padding) of the public key; the default
    /// `kid` when the configuration gives none.
    pub fn kid_thumbprint(&self) -> String {
        self.public_params().thumbprint()
    }

    /// The public key as a JWK with `kid`, `use: "sig"` and `alg`.
    pub fn public_jwk(&self, kid: &str) -> serde_json::Value {
        let alg = self.algorithm();
        match self.public_params() {
            PublicParams::Rsa { n, e } => json!({
                "kty": "RSA", "kid": kid, "use": "sig", "alg": alg, "n": n, "e": e,
            }),
            PublicParams::Ec { crv, x, y } => json!({
                "kty": "EC", "kid": kid, "use": "sig", "alg": alg, "crv": crv, "x": x, "y": y,
            }),
        }
    }

    /// The private key as unencrypted PKCS#8 DER (e.g. to hand to a JWT library). The returned
    /// document zeroizes itself on drop.
    pub fn to_pkcs8_der(&self) -> Result<pkcs8::SecretDocument, KeyError> {
        match self {
            Self::Rsa(key) => key.to_pkcs8_der(),
            Self::P256(key) => key.to_pkcs8_der(),
            Self::P384(key) => key.to_pkcs8_der(),
            Self::K256(key) => key.to_pkcs8_der(),
        }
        .map_err(|e| KeyError::Generation(e.to_string()))
    }
}

/// Parses a private key in any format MAS accepts: PKCS#1 (RSA), PKCS#8 (plain, or encrypted with
/// `password`) or SEC1 (EC), each as PEM or DER.
///
/// `password` is ignored for unencrypted keys.
pub fn parse_private_key(data: &[u8], password: Option<&[u8]>) -> Result<SigningKey, KeyError> {
    match find_pem(data) {
        Some(pem) => parse_pem(pem, password),
        None => parse_der(data, password),
    }
}

/// Start of the first PEM block that is not `EC PARAMETERS` (OpenSSL's `ecparam -genkey` writes
/// one before the key), skipping any explanatory text before it (RFC 7468 §2).
fn find_pem(data: &[u8]) -> Option<&[u8]> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut offset = 0;
    while let Some(pos) = data
        .get(offset..)?
        .windows(BEGIN.len())
        .position(|w| w == BEGIN)
    {
        let start = offset + pos;
        let rest = data.get(start..)?;
        if !rest.starts_with(b"-----BEGIN EC PARAMETERS-----") {
            return Some(rest);
        }
        offset = start + BEGIN.len();
    }
    None
}

fn parse_pem(pem: &[u8], password: Option<&[u8]>) -> Result<SigningKey, KeyError> {
    // OpenSSL's pre-PKCS#8 "traditional" encryption (RFC 1421 headers) is not supported; say so
    // instead of reporting a confusing PEM syntax error.
    if pem.windows(22).any(|w| w == b"Proc-Type: 4,ENCRYPTED") {
        return Err(KeyError::UnsupportedPemEncryption);
    }
    let (label, der) =
        pkcs8::der::pem::decode_vec(pem).map_err(|e| KeyError::Pem(e.to_string()))?;
    match label {
        "RSA PRIVATE KEY" => parse_pkcs1(&der),
        "EC PRIVATE KEY" => parse_sec1(&der),
        "PRIVATE KEY" => parse_pkcs8(&der),
        "ENCRYPTED PRIVATE KEY" => parse_encrypted_pkcs8(&der, password),
        other => Err(KeyError::UnsupportedPemLabel(other.to_owned())),
    }
}

fn parse_der(der: &[u8], password: Option<&[u8]>) -> Result<SigningKey, KeyError> {
    // The four structures are distinct ASN.1 SEQUENCEs; whichever decodes structurally decides
    // the format, and then its own errors are reported.
    if PrivateKeyInfo::try_from(der).is_ok() {
        parse_pkcs8(der)
    } else if EncryptedPrivateKeyInfo::try_from(der).is_ok() {
        parse_encrypted_pkcs8(der, password)
    } else if rsa::pkcs1::RsaPrivateKey::try_from(der).is_ok() {
        parse_pkcs1(der)
    } else if sec1::EcPrivateKey::try_from(der).is_ok() {
        parse_sec1(der)
    } else {
        Err(KeyError::UnrecognisedFormat)
    }
}

fn invalid(format: &'static str) -> impl FnOnce(String) -> KeyError {
    move |reason| KeyError::Invalid { format, reason }
}

fn parse_pkcs1(der: &[u8]) -> Result<SigningKey, KeyError> {
    rsa::RsaPrivateKey::from_pkcs1_der(der)
        .map(SigningKey::Rsa)
        .map_err(|e| invalid("PKCS#1")(e.to_string()))
}

fn parse_pkcs8(der: &[u8]) -> Result<SigningKey, KeyError> {
    let info = PrivateKeyInfo::try_from(der).map_err(|e| invalid("PKCS#8")(e.to_string()))?;
    let algorithm = info.algorithm.oid;
    let key = if algorithm == OID_RSA {
        rsa::RsaPrivateKey::from_pkcs8_der(der).map(SigningKey::Rsa)
    } else if algorithm == OID_EC {
        let curve = info
            .algorithm
            .parameters_oid()
            .map_err(|_| invalid("PKCS#8")("EC key without a named curve".to_owned()))?;
        match curve {
            OID_P256 => p256::SecretKey::from_pkcs8_der(der).map(SigningKey::P256),
            OID_P384 => p384::SecretKey::from_pkcs8_der(der).map(SigningKey::P384),
            OID_K256 => k256::SecretKey::from_pkcs8_der(der).map(SigningKey::K256),
            other => return Err(KeyError::UnsupportedKeyType(format!("EC curve {other}"))),
        }
    } else {
        return Err(KeyError::UnsupportedKeyType(format!(
            "PKCS#8 algorithm {algorithm}"
        )));
    };
    key.map_err(|e| invalid("PKCS#8")(e.to_string()))
}

fn parse_encrypted_pkcs8(der: &[u8], password: Option<&[u8]>) -> Result<SigningKey, KeyError> {
    let info = EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|e| invalid("encrypted PKCS#8")(e.to_string()))?;
    let password = password.ok_or(KeyError::PasswordRequired)?;
    let decrypted = info.decrypt(password).map_err(|_| KeyError::Decryption)?;
    parse_pkcs8(decrypted.as_bytes())
}

fn parse_sec1(der: &[u8]) -> Result<SigningKey, KeyError> {
    let key = sec1::EcPrivateKey::try_from(der).map_err(|e| invalid("SEC1")(e.to_string()))?;
    let curve = match key.parameters.and_then(|p| p.named_curve()) {
        Some(curve) => curve,
        // The parameters are optional (RFC 5915 §3) and RustCrypto's own encoder omits them.
        None => infer_sec1_curve(&key)?,
    };
    let key = match curve {
        OID_P256 => p256::SecretKey::from_sec1_der(der).map(SigningKey::P256),
        OID_P384 => p384::SecretKey::from_sec1_der(der).map(SigningKey::P384),
        OID_K256 => k256::SecretKey::from_sec1_der(der).map(SigningKey::K256),
        other => return Err(KeyError::UnsupportedKeyType(format!("EC curve {other}"))),
    };
    key.map_err(|e| invalid("SEC1")(e.to_string()))
}

/// Curve of a SEC1 key without parameters, from the scalar length and, for 32-byte scalars (P-256
/// or secp256k1), from which curve's public key matches the embedded one. Never guesses.
fn infer_sec1_curve(key: &sec1::EcPrivateKey<'_>) -> Result<ObjectIdentifier, KeyError> {
    let public = key.public_key;
    let compressed = public.is_some_and(|p| p.len() == 33);
    match key.private_key.len() {
        48 => Ok(OID_P384),
        32 => {
            let matches = |derived: &[u8]| public == Some(derived);
            if let Ok(k) = p256::SecretKey::from_slice(key.private_key)
                && matches(k.public_key().to_encoded_point(compressed).as_bytes())
            {
                return Ok(OID_P256);
            }
            if let Ok(k) = k256::SecretKey::from_slice(key.private_key)
                && matches(k.public_key().to_encoded_point(compressed).as_bytes())
            {
                return Ok(OID_K256);
            }
            Err(invalid("SEC1")(
                "EC key without a named curve, and its curve cannot be inferred".to_owned(),
            ))
        }
        other => Err(KeyError::UnsupportedKeyType(format!(
            "EC key with a {other}-byte scalar and no named curve"
        ))),
    }
}

/// Generates a 2048-bit RSA key as an unencrypted PKCS#8 PEM (`PRIVATE KEY`).
pub fn generate_rsa_pem(
    rng: &mut (impl rand::CryptoRng + rand::RngCore),
) -> Result<String, KeyError> {
    let key =
        rsa::RsaPrivateKey::new(rng, 2048).map_err(|e| KeyError::Generation(e.to_string()))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    Ok(pem.as_str().to_owned())
}

/// Generates an EC P-256 key as an unencrypted PKCS#8 PEM (`PRIVATE KEY`).
pub fn generate_ec_p256_pem(
    rng: &mut (impl rand::CryptoRng + rand::RngCore),
) -> Result<String, KeyError> {
    let key = p256::SecretKey::random(rng);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    Ok(pem.as_str().to_owned())
}

/// The configured signing keys, each with its `kid`.
#[derive(Clone, Debug)]
pub struct Keystore {
    keys: Vec<(String, SigningKey)>,
}

impl Keystore {
    /// Builds a keystore. A missing `kid` defaults to the key's RFC 7638 thumbprint.
    ///
    /// Fails without an RSA key (RS256 is mandatory) or when two keys share a `kid`.
    pub fn new(keys: Vec<(Option<String>, SigningKey)>) -> Result<Self, KeyError> {
        if !keys.iter().any(|(_, key)| key.is_rsa()) {
            return Err(KeyError::NoRsaKey);
        }
        let mut seen = HashSet::new();
        let keys = keys
            .into_iter()
            .map(|(kid, key)| {
                let kid = kid.unwrap_or_else(|| key.kid_thumbprint());
                if seen.insert(kid.clone()) {
                    Ok((kid, key))
                } else {
                    Err(KeyError::DuplicateKid(kid))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// The public JWK Set (RFC 7517 §5) to serve at `jwks_uri`.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self.iter().map(|(kid, key)| key.public_jwk(kid)).collect();
        json!({ "keys": keys })
    }

    /// All keys with their `kid`, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SigningKey)> {
        self.keys.iter().map(|(kid, key)| (kid.as_str(), key))
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.iter().find(|(k, _)| *k == kid).map(|(_, key)| key)
    }

    /// The first configured key that signs with `alg` (e.g. `"RS256"`).
    pub fn first_for_algorithm(&self, alg: &str) -> Option<(&str, &SigningKey)> {
        self.iter().find(|(_, key)| key.algorithm() == alg)
    }

    /// JWS algorithms the keystore can sign with, without duplicates, in configuration order.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut algorithms = Vec::new();
        for (_, key) in self.iter() {
            if !algorithms.contains(&key.algorithm()) {
                algorithms.push(key.algorithm());
            }
        }
        algorithms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rsa::pkcs1::EncodeRsaPrivateKey;

    // Fixtures made with OpenSSL 3.0: `genrsa -traditional 2048`, `ecparam -name secp256k1
    // -genkey` (with its EC PARAMETERS block), and a P-384 `genpkey` piped through
    // `pkcs8 -topk8 -v2 aes-256-cbc -passout pass:hunter2` (PBES2, PBKDF2-HMAC-SHA256).
    // Their thumbprints were computed independently with Python from `openssl pkey -pubout`.
    const OPENSSL_RSA_PKCS1: &str = include_str!("testdata/rsa-pkcs1.pem");
    const OPENSSL_RSA_THUMBPRINT: &str = "ECLd-bdoE4zgZ0Gp8h0A7YpjQW6rbgO5IPQt-ikepf0";
    const OPENSSL_K256_SEC1: &str = include_str!("testdata/k256-sec1-with-params.pem");
    const OPENSSL_K256_THUMBPRINT: &str = "-rVpd7-vtXWmgkXOLg8r2ecyDMgKqxzWCb08PiW6TwQ";
    const OPENSSL_P384_ENCRYPTED: &str = include_str!("testdata/p384-pkcs8-encrypted.pem");
    const OPENSSL_P384_THUMBPRINT: &str = "TXuNFOqqe29TZjZxZLBPhrqjVJQAsGjs7aZqRkWqHmc";

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7638)
    }

    fn rsa_key() -> SigningKey {
        parse_private_key(OPENSSL_RSA_PKCS1.as_bytes(), None).expect("RSA fixture")
    }

    #[test]
    fn rfc7638_rsa_thumbprint_vector() {
        // RFC 7638 §3.1.
        let params = PublicParams::Rsa {
            n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_\
                BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_\
                FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-\
                bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-\
                kEgU8awapJzKnqDKgw"
                .to_owned(),
            e: "AQAB".to_owned(),
        };
        assert_eq!(
            params.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn openssl_fixtures_parse_with_independent_thumbprints() {
        let rsa = rsa_key();
        assert!(rsa.is_rsa());
        assert_eq!(rsa.kid_thumbprint(), OPENSSL_RSA_THUMBPRINT);

        let k256 = parse_private_key(OPENSSL_K256_SEC1.as_bytes(), None).expect("SEC1 fixture");
        assert!(matches!(k256, SigningKey::K256(_)));
        assert_eq!(k256.algorithm(), "ES256K");
        assert_eq!(k256.kid_thumbprint(), OPENSSL_K256_THUMBPRINT);

        let p384 = parse_private_key(OPENSSL_P384_ENCRYPTED.as_bytes(), Some(b"hunter2"))
            .expect("encrypted PKCS#8 fixture");
        assert!(matches!(p384, SigningKey::P384(_)));
        assert_eq!(p384.kid_thumbprint(), OPENSSL_P384_THUMBPRINT);
    }

    #[test]
    fn encrypted_pkcs8_password_handling() {
        let pem = OPENSSL_P384_ENCRYPTED.as_bytes();
        let err = parse_private_key(pem, None).expect_err("no password");
        assert!(matches!(err, KeyError::PasswordRequired));
        assert_eq!(err.to_string(), "encrypted key needs a password");
        assert!(matches!(
            parse_private_key(pem, Some(b"hunter3")),
            Err(KeyError::Decryption)
        ));

        // Our own encrypted DER, round-tripped (PBKDF2 params keep the test fast; the default
        // scrypt parameters need 128 MiB and seconds per attempt).
        let key = p256::SecretKey::random(&mut rng());
        let plain = key.to_pkcs8_der().expect("encode");
        let info = PrivateKeyInfo::try_from(plain.as_bytes()).expect("parse");
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[9u8; 16])
                .expect("params");
        let encrypted = info.encrypt_with_params(params, b"pw").expect("encrypt");
        let parsed = parse_private_key(encrypted.as_bytes(), Some(b"pw")).expect("right password");
        assert!(matches!(parsed, SigningKey::P256(_)));
        assert!(matches!(
            parse_private_key(encrypted.as_bytes(), Some(b"wrong")),
            Err(KeyError::Decryption)
        ));
        assert!(matches!(
            parse_private_key(encrypted.as_bytes(), None),
            Err(KeyError::PasswordRequired)
        ));
    }

    #[test]
    fn generate_and_parse_round_trips() {
        let mut rng = rng();

        let rsa_pem = generate_rsa_pem(&mut rng).expect("generate RSA");
        assert!(rsa_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let rsa = parse_private_key(rsa_pem.as_bytes(), None).expect("parse RSA PKCS#8 PEM");
        let SigningKey::Rsa(inner) = &rsa else {
            panic!("expected RSA, got {rsa:?}");
        };
        assert_eq!(inner.size(), 256);
        let thumbprint = rsa.kid_thumbprint();

        // Same key through every other RSA encoding.
        let pkcs1_pem = inner.to_pkcs1_pem(LineEnding::LF).expect("PKCS#1 PEM");
        let pkcs1_der = inner.to_pkcs1_der().expect("PKCS#1 DER");
        let pkcs8_der = rsa.to_pkcs8_der().expect("PKCS#8 DER");
        for (name, data) in [
            ("PKCS#1 PEM", pkcs1_pem.as_bytes()),
            ("PKCS#1 DER", pkcs1_der.as_bytes()),
            ("PKCS#8 DER", pkcs8_der.as_bytes()),
        ] {
            let parsed = parse_private_key(data, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(parsed.kid_thumbprint(), thumbprint, "{name}");
        }

        let ec_pem = generate_ec_p256_pem(&mut rng).expect("generate EC");
        assert!(ec_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let ec = parse_private_key(ec_pem.as_bytes(), None).expect("parse EC PKCS#8 PEM");
        let SigningKey::P256(inner) = &ec else {
            panic!("expected P-256, got {ec:?}");
        };
        let thumbprint = ec.kid_thumbprint();
        let sec1_pem = inner.to_sec1_pem(LineEnding::LF).expect("SEC1 PEM");
        let sec1_der = inner.to_sec1_der().expect("SEC1 DER");
        let pkcs8_der = ec.to_pkcs8_der().expect("PKCS#8 DER");
        for (name, data) in [
            ("SEC1 PEM", sec1_pem.as_bytes()),
            ("SEC1 DER", sec1_der.as_slice()),
            ("PKCS#8 DER", pkcs8_der.as_bytes()),
        ] {
            let parsed = parse_private_key(data, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(matches!(parsed, SigningKey::P256(_)), "{name}");
            assert_eq!(parsed.kid_thumbprint(), thumbprint, "{name}");
        }

        // P-384 and secp256k1 through SEC1 DER and PKCS#8 DER too.
        let p384 = p384::SecretKey::random(&mut rng);
        let k256 = k256::SecretKey::random(&mut rng);
        let parsed = parse_private_key(&p384.to_sec1_der().expect("der"), None).expect("P-384");
        assert_eq!(parsed.algorithm(), "ES384");
        let parsed =
            parse_private_key(k256.to_pkcs8_der().expect("der").as_bytes(), None).expect("K-256");
        assert_eq!(parsed.algorithm(), "ES256K");
        // RustCrypto's SEC1 output has no curve parameters: the curve comes from the public key.
        let parsed = parse_private_key(&k256.to_sec1_der().expect("der"), None).expect("K-256");
        assert_eq!(parsed.algorithm(), "ES256K");
        let bare = sec1::EcPrivateKey {
            private_key: &k256.to_bytes(),
            parameters: None,
            public_key: None,
        };
        let bare = pkcs8::der::Encode::to_der(&bare).expect("der");
        assert!(matches!(
            parse_private_key(&bare, None),
            Err(KeyError::Invalid { format: "SEC1", .. })
        ));
    }

    #[test]
    fn garbage_and_unsupported_inputs() {
        assert!(matches!(
            parse_private_key(b"hello", None),
            Err(KeyError::UnrecognisedFormat)
        ));
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            parse_private_key(cert.as_bytes(), None),
            Err(KeyError::UnsupportedPemLabel(label)) if label == "CERTIFICATE"
        ));
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                      DEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n\
                      -----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            parse_private_key(legacy.as_bytes(), Some(b"pw")),
            Err(KeyError::UnsupportedPemEncryption)
        ));
        // Ed25519 PKCS#8 (RFC 8410 §10.3 example).
        let ed25519 = "-----BEGIN PRIVATE KEY-----\n\
                       MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                       -----END PRIVATE KEY-----\n";
        let err = parse_private_key(ed25519.as_bytes(), None).expect_err("ed25519");
        assert!(matches!(err, KeyError::UnsupportedKeyType(_)), "{err}");
        assert!(err.to_string().starts_with("unsupported key type"), "{err}");
    }

    #[test]
    fn jwk_shapes() {
        let rsa = rsa_key();
        let jwk = rsa.public_jwk("a");
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["kid"], "a");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["e"], "AQAB");
        assert!(jwk.get("d").is_none(), "private exponent leaked");

        let k256 = parse_private_key(OPENSSL_K256_SEC1.as_bytes(), None).expect("fixture");
        let jwk = k256.public_jwk("b");
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "secp256k1");
        assert_eq!(jwk["alg"], "ES256K");
        let x = URL_SAFE_NO_PAD
            .decode(jwk["x"].as_str().expect("x"))
            .expect("b64");
        assert_eq!(x.len(), 32);
        assert!(jwk.get("d").is_none(), "private scalar leaked");
    }

    #[test]
    fn keystore_rules() {
        let k256 = parse_private_key(OPENSSL_K256_SEC1.as_bytes(), None).expect("fixture");
        assert!(matches!(
            Keystore::new(vec![(None, k256.clone())]),
            Err(KeyError::NoRsaKey)
        ));
        assert_eq!(
            KeyError::NoRsaKey.to_string(),
            "at least one RSA key is required, RS256 is mandatory"
        );
        assert!(matches!(
            Keystore::new(vec![
                (Some("x".into()), rsa_key()),
                (Some("x".into()), k256.clone())
            ]),
            Err(KeyError::DuplicateKid(kid)) if kid == "x"
        ));
        // Same key twice without explicit kids collides on the thumbprint.
        assert!(matches!(
            Keystore::new(vec![(None, rsa_key()), (None, rsa_key())]),
            Err(KeyError::DuplicateKid(_))
        ));

        let store = Keystore::new(vec![(None, rsa_key()), (Some("ec".into()), k256)])
            .expect("valid keystore");
        let jwks = store.jwks();
        let keys = jwks["keys"].as_array().expect("keys array");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0]["kid"], OPENSSL_RSA_THUMBPRINT);
        assert_eq!(keys[1]["kid"], "ec");
        assert_eq!(store.algorithms(), ["RS256", "ES256K"]);
        assert!(store.get("ec").is_some());
        assert_eq!(
            store.first_for_algorithm("RS256").map(|(kid, _)| kid),
            Some(OPENSSL_RSA_THUMBPRINT)
        );
    }

    #[test]
    fn debug_shows_no_private_material() {
        let key = rsa_key();
        let debug = format!("{key:?}");
        assert_eq!(
            debug,
            format!("SigningKey {{ kind: \"RSA\", thumbprint: \"{OPENSSL_RSA_THUMBPRINT}\" }}")
        );
        let store = Keystore::new(vec![(None, key)]).expect("keystore");
        let debug = format!("{store:?}");
        assert!(
            !debug.contains("BigUint") && !debug.contains("primes"),
            "{debug}"
        );
    }
}

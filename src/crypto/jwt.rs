//! JSON Web Tokens in JWS compact form (RFC 7515, RFC 7519): signing claims with the configured
//! `secrets.keys`, and verifying tokens other parties signed, either against their published JWK
//! Set ([`PublicKeySet`]) or with a shared secret ([`verify_with_secret`]).
//!
//! Only the signature is checked here; what the claims must say is up to the caller. The refusals
//! that protect every caller live here: `alg: none`, an HMAC algorithm against a public key
//! (algorithm confusion), unknown `crit` extensions, oversized input, and an ambiguous key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::keys::{Keystore, SigningKey};

/// The largest JWT accepted for verification, in bytes of its compact form.
pub const MAX_JWT_BYTES: usize = 16 * 1024;
/// The largest JWK Set accepted, in bytes of its JSON text.
pub const MAX_JWKS_BYTES: usize = 16 * 1024;
/// RSA keys shorter than this are refused (RFC 7518 §3.3 requires 2048 bits or more).
const MIN_RSA_BITS: usize = 2048;

/// Why a JWT could not be signed or verified. Never contains key material or token text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the JWT is larger than {MAX_JWT_BYTES} bytes")]
    TokenTooLarge,
    #[error("the JWK Set is larger than {MAX_JWKS_BYTES} bytes")]
    JwksTooLarge,
    #[error("malformed JWT: {0}")]
    Malformed(&'static str),
    /// RFC 8725 §3.1: an unsecured JWT is never accepted.
    #[error("unsigned JWTs (alg \"none\") are not accepted")]
    Unsigned,
    /// RFC 8725 §3.1: a public key must never be used as an HMAC secret.
    #[error("algorithm {0} cannot be verified with a public key")]
    SymmetricWithPublicKey(String),
    /// A public-key algorithm presented where a shared secret is expected.
    #[error("algorithm {0} is not an HMAC algorithm")]
    NotSymmetric(String),
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// RFC 7515 §4.1.11: extensions the recipient does not understand make the JWS invalid.
    #[error("unsupported critical header parameters")]
    UnsupportedCritical,
    #[error("no key with kid {0:?}")]
    UnknownKid(String),
    #[error("the key set has several keys for {0}; the JWT must name one with `kid`")]
    KidRequired(String),
    #[error("no key in the set verifies {0}")]
    NoKeyForAlgorithm(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("invalid JWK Set: {0}")]
    InvalidJwks(String),
    #[error("no configured signing key for {0}")]
    NoSigningKey(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

/// The JOSE header fields Gatehouse reads (RFC 7515 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtHeader {
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing)]
    crit: Option<Value>,
}

/// A JWT whose signature verified. The claims are a JSON object, unchecked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedJwt {
    pub header: JwtHeader,
    pub claims: Map<String, Value>,
}

/// The three parts of a compact JWS, with the header and claims decoded but nothing verified.
struct Parts<'a> {
    header: JwtHeader,
    claims: Map<String, Value>,
    /// `base64url(header) "." base64url(claims)`, the JWS signing input.
    signing_input: &'a str,
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Parts<'_>, JwtError> {
    if token.len() > MAX_JWT_BYTES {
        return Err(JwtError::TokenTooLarge);
    }
    let (signing_input, signature) = token
        .rsplit_once('.')
        .ok_or(JwtError::Malformed("expected three dot-separated parts"))?;
    let (header, claims) = signing_input
        .split_once('.')
        .ok_or(JwtError::Malformed("expected three dot-separated parts"))?;
    if claims.contains('.') {
        // Five parts: a JWE (RFC 7516), which Gatehouse does not decrypt.
        return Err(JwtError::Malformed("expected three dot-separated parts"));
    }
    let decode = |part: &str, what: &'static str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwtError::Malformed(what))
    };
    let header: JwtHeader = serde_json::from_slice(&decode(header, "header is not base64url")?)
        .map_err(|_| JwtError::Malformed("header is not a JSON object with `alg`"))?;
    if header.crit.is_some() {
        return Err(JwtError::UnsupportedCritical);
    }
    if header.alg.eq_ignore_ascii_case("none") {
        return Err(JwtError::Unsigned);
    }
    let claims: Map<String, Value> =
        serde_json::from_slice(&decode(claims, "claims are not base64url")?)
            .map_err(|_| JwtError::Malformed("claims are not a JSON object"))?;
    let signature = decode(signature, "signature is not base64url")?;
    if signature.is_empty() {
        return Err(JwtError::Unsigned);
    }
    Ok(Parts {
        header,
        claims,
        signing_input,
        signature,
    })
}

/// The claims of `token`, without verifying anything: only to learn which client or key set to
/// verify it with. Never trust the result.
pub fn unverified_claims(token: &str) -> Result<Map<String, Value>, JwtError> {
    split(token).map(|parts| parts.claims)
}

fn is_hmac(alg: &str) -> bool {
    matches!(alg, "HS256" | "HS384" | "HS512")
}

/// Verify an HMAC-signed JWT (HS256, HS384 or HS512) with a shared `secret`, as
/// `client_secret_jwt` does (OIDC Core §9).
pub fn verify_with_secret(token: &str, secret: &[u8]) -> Result<VerifiedJwt, JwtError> {
    let parts = split(token)?;
    let alg = match parts.header.alg.as_str() {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        other => return Err(JwtError::NotSymmetric(other.to_owned())),
    };
    let key = DecodingKey::from_secret(secret);
    verify_signature(&parts, &key, alg)?;
    Ok(VerifiedJwt {
        header: parts.header,
        claims: parts.claims,
    })
}

fn verify_signature(parts: &Parts<'_>, key: &DecodingKey, alg: Algorithm) -> Result<(), JwtError> {
    let signature = URL_SAFE_NO_PAD.encode(&parts.signature);
    match jsonwebtoken::crypto::verify(&signature, parts.signing_input.as_bytes(), key, alg) {
        Ok(true) => Ok(()),
        // A key the library cannot use (e.g. a point not on the curve) verifies nothing.
        Ok(false) | Err(_) => Err(JwtError::BadSignature),
    }
}

/// A public key from a JWK Set, of a kind Gatehouse can verify with.
#[derive(Clone)]
enum PublicKey {
    Rsa(DecodingKey),
    P256(DecodingKey),
    P384(DecodingKey),
    K256(k256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Whether this key can verify `alg` (RFC 7518 §3.1, RFC 8812 §3.2).
    fn verifies(&self, alg: &str) -> bool {
        match self {
            Self::Rsa(_) => matches!(
                alg,
                "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512"
            ),
            Self::P256(_) => alg == "ES256",
            Self::P384(_) => alg == "ES384",
            Self::K256(_) => alg == "ES256K",
        }
    }

    fn verify(&self, parts: &Parts<'_>) -> Result<(), JwtError> {
        let library_alg = || {
            parts
                .header
                .alg
                .parse::<Algorithm>()
                .map_err(|_| JwtError::UnsupportedAlgorithm(parts.header.alg.clone()))
        };
        match self {
            Self::Rsa(key) | Self::P256(key) | Self::P384(key) => {
                verify_signature(parts, key, library_alg()?)
            }
            // jsonwebtoken has no ES256K; RFC 8812 §3.2 is ECDSA over SHA-256 with r || s.
            Self::K256(key) => {
                use k256::ecdsa::signature::Verifier as _;
                let signature = k256::ecdsa::Signature::from_slice(&parts.signature)
                    .map_err(|_| JwtError::BadSignature)?;
                key.verify(parts.signing_input.as_bytes(), &signature)
                    .map_err(|_| JwtError::BadSignature)
            }
        }
    }
}

#[derive(Clone)]
struct PublicJwk {
    kid: Option<String>,
    /// The JWK's own `alg`, when it names one: the key verifies only that.
    alg: Option<String>,
    key: PublicKey,
}

impl PublicJwk {
    fn verifies(&self, alg: &str) -> bool {
        self.alg.as_deref().is_none_or(|own| own == alg) && self.key.verifies(alg)
    }
}

/// A party's public signing keys, from its JWK Set (RFC 7517 §5), to verify the JWTs it signs.
#[derive(Clone)]
pub struct PublicKeySet {
    keys: Vec<PublicJwk>,
}

impl std::fmt::Debug for PublicKeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKeySet")
            .field(
                "kids",
                &self
                    .keys
                    .iter()
                    .map(|k| k.kid.as_deref())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn b64_member(jwk: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JwtError> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| JwtError::InvalidJwks(format!("a key lacks `{name}`")))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JwtError::InvalidJwks(format!("`{name}` is not base64url")))
}

fn ec_point(
    jwk: &Map<String, Value>,
    coordinate_len: usize,
    curve: &str,
) -> Result<Vec<u8>, JwtError> {
    let x = b64_member(jwk, "x")?;
    let y = b64_member(jwk, "y")?;
    if x.len() != coordinate_len || y.len() != coordinate_len {
        return Err(JwtError::InvalidJwks(format!(
            "{curve} coordinates must be {coordinate_len} bytes"
        )));
    }
    let mut point = Vec::with_capacity(1 + 2 * coordinate_len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(point)
}

/// The key of one JWK, `None` when it is of a kind Gatehouse does not verify with (RFC 7517 §5:
/// such members are ignored).
fn public_key(jwk: &Map<String, Value>) -> Result<Option<PublicKey>, JwtError> {
    let invalid = |what: &str| JwtError::InvalidJwks(what.to_owned());
    match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => {
            if jwk.contains_key("d") {
                return Err(invalid("an RSA key contains private material (`d`)"));
            }
            let n = b64_member(jwk, "n")?;
            let e = b64_member(jwk, "e")?;
            let n = rsa::BigUint::from_bytes_be(&n);
            let e = rsa::BigUint::from_bytes_be(&e);
            if n.bits() < MIN_RSA_BITS {
                return Err(invalid("RSA keys must have at least 2048 bits"));
            }
            // Checks the modulus and exponent the way verification will use them.
            rsa::RsaPublicKey::new(n.clone(), e.clone())
                .map_err(|_| invalid("invalid RSA public key"))?;
            Ok(Some(PublicKey::Rsa(DecodingKey::from_rsa_raw_components(
                &n.to_bytes_be(),
                &e.to_bytes_be(),
            ))))
        }
        Some("EC") => {
            if jwk.contains_key("d") {
                return Err(invalid("an EC key contains private material (`d`)"));
            }
            let crv = jwk.get("crv").and_then(Value::as_str);
            match crv {
                Some("P-256") => {
                    let point = ec_point(jwk, 32, "P-256")?;
                    p256::PublicKey::from_sec1_bytes(&point)
                        .map_err(|_| invalid("P-256 point is not on the curve"))?;
                    Ok(Some(PublicKey::P256(DecodingKey::from_ec_der(&point))))
                }
                Some("P-384") => {
                    let point = ec_point(jwk, 48, "P-384")?;
                    p384::PublicKey::from_sec1_bytes(&point)
                        .map_err(|_| invalid("P-384 point is not on the curve"))?;
                    Ok(Some(PublicKey::P384(DecodingKey::from_ec_der(&point))))
                }
                Some("secp256k1") => {
                    let point = ec_point(jwk, 32, "secp256k1")?;
                    let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map_err(|_| invalid("secp256k1 point is not on the curve"))?;
                    Ok(Some(PublicKey::K256(key)))
                }
                _ => Ok(None),
            }
        }
        // `oct` (a shared secret has no place in a public key set), `OKP`, and unknown types.
        Some(_) => Ok(None),
        None => Err(invalid("a key lacks `kty`")),
    }
}

impl PublicKeySet {
    /// Read a JWK Set. Keys for encryption (`use: "enc"`) and of unsupported types are ignored;
    /// a set with no usable key, a malformed key or one over [`MAX_JWKS_BYTES`] is refused.
    pub fn from_jwks(jwks: &Value) -> Result<Self, JwtError> {
        let size = serde_json::to_vec(jwks)
            .map_err(|e| JwtError::InvalidJwks(e.to_string()))?
            .len();
        if size > MAX_JWKS_BYTES {
            return Err(JwtError::JwksTooLarge);
        }
        let members = jwks.get("keys").and_then(Value::as_array).ok_or_else(|| {
            JwtError::InvalidJwks("expected an object with a `keys` array".into())
        })?;
        let mut keys = Vec::new();
        for member in members {
            let jwk = member
                .as_object()
                .ok_or_else(|| JwtError::InvalidJwks("a key is not an object".into()))?;
            if jwk
                .get("use")
                .and_then(Value::as_str)
                .is_some_and(|u| u != "sig")
            {
                continue;
            }
            let Some(key) = public_key(jwk)? else {
                continue;
            };
            let text = |name| jwk.get(name).and_then(Value::as_str).map(str::to_owned);
            let kid = text("kid");
            if kid.is_some() && keys.iter().any(|k: &PublicJwk| k.kid == kid) {
                return Err(JwtError::InvalidJwks("two keys share a `kid`".into()));
            }
            keys.push(PublicJwk {
                kid,
                alg: text("alg"),
                key,
            });
        }
        if keys.is_empty() {
            return Err(JwtError::InvalidJwks("no usable signing key".into()));
        }
        Ok(Self { keys })
    }

    /// Parse the JSON text of a JWK Set (e.g. a stored `jwks` column or a fetched `jwks_uri`).
    pub fn from_json(text: &[u8]) -> Result<Self, JwtError> {
        if text.len() > MAX_JWKS_BYTES {
            return Err(JwtError::JwksTooLarge);
        }
        let value: Value =
            serde_json::from_slice(text).map_err(|e| JwtError::InvalidJwks(e.to_string()))?;
        Self::from_jwks(&value)
    }

    /// The number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verify `token`'s signature with the key its header names (`kid`), or with the only key
    /// that fits its `alg`. An HMAC `alg` is refused: a public key is no shared secret.
    pub fn verify(&self, token: &str) -> Result<VerifiedJwt, JwtError> {
        let parts = split(token)?;
        let alg = parts.header.alg.as_str();
        if is_hmac(alg) {
            return Err(JwtError::SymmetricWithPublicKey(alg.to_owned()));
        }
        if !matches!(
            alg,
            "RS256"
                | "RS384"
                | "RS512"
                | "PS256"
                | "PS384"
                | "PS512"
                | "ES256"
                | "ES384"
                | "ES256K"
        ) {
            return Err(JwtError::UnsupportedAlgorithm(alg.to_owned()));
        }
        let key = self.choose(parts.header.kid.as_deref(), alg)?;
        key.key.verify(&parts)?;
        Ok(VerifiedJwt {
            header: parts.header,
            claims: parts.claims,
        })
    }

    fn choose(&self, kid: Option<&str>, alg: &str) -> Result<&PublicJwk, JwtError> {
        if let Some(kid) = kid {
            if let Some(key) = self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                return if key.verifies(alg) {
                    Ok(key)
                } else {
                    Err(JwtError::NoKeyForAlgorithm(alg.to_owned()))
                };
            }
            // A lone key without a `kid` of its own is the one meant; with several, or when
            // the lone key names itself otherwise, an unknown `kid` is refused.
            return match self.keys.as_slice() {
                [only] if only.kid.is_none() && only.verifies(alg) => Ok(only),
                _ => Err(JwtError::UnknownKid(kid.to_owned())),
            };
        }
        let mut fitting = self.keys.iter().filter(|k| k.verifies(alg));
        match (fitting.next(), fitting.next()) {
            (Some(key), None) => Ok(key),
            (Some(_), Some(_)) => Err(JwtError::KidRequired(alg.to_owned())),
            (None, _) => Err(JwtError::NoKeyForAlgorithm(alg.to_owned())),
        }
    }
}

/// The algorithm Gatehouse signs with when the caller has no preference (OIDC Core §15.1).
pub const DEFAULT_ALGORITHM: &str = "RS256";

/// Sign `claims` with the first configured key for `alg` (RS256 when `None`); the header names
/// the key's `kid`.
pub fn sign(
    keystore: &Keystore,
    alg: Option<&str>,
    claims: &impl Serialize,
) -> Result<String, JwtError> {
    let alg = alg.unwrap_or(DEFAULT_ALGORITHM);
    let (kid, key) = keystore
        .first_for_algorithm(alg)
        .ok_or_else(|| JwtError::NoSigningKey(alg.to_owned()))?;
    sign_with(kid, key, claims)
}

/// Sign `claims` with `key` (its own algorithm), naming `kid` in the header.
pub fn sign_with(kid: &str, key: &SigningKey, claims: &impl Serialize) -> Result<String, JwtError> {
    let header = JwtHeader {
        alg: key.algorithm().to_owned(),
        kid: Some(kid.to_owned()),
        typ: Some("JWT".to_owned()),
        crit: None,
    };
    let signing_input = format!("{}.{}", b64_json(&header)?, b64_json(claims)?);
    let signature = signature(key, signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{signature}"))
}

fn b64_json<T: Serialize + ?Sized>(value: &T) -> Result<String, JwtError> {
    let json = serde_json::to_vec(value).map_err(|e| JwtError::Signing(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// The base64url signature of `message` by `key`.
fn signature(key: &SigningKey, message: &[u8]) -> Result<String, JwtError> {
    let failed = |e: &dyn std::fmt::Display| JwtError::Signing(e.to_string());
    let (encoding_key, alg) = match key {
        SigningKey::Rsa(rsa) => {
            let der = rsa.to_pkcs1_der().map_err(|e| failed(&e))?;
            (EncodingKey::from_rsa_der(der.as_bytes()), Algorithm::RS256)
        }
        SigningKey::P256(_) => {
            let der = key.to_pkcs8_der().map_err(|e| failed(&e))?;
            (EncodingKey::from_ec_der(der.as_bytes()), Algorithm::ES256)
        }
        SigningKey::P384(_) => {
            let der = key.to_pkcs8_der().map_err(|e| failed(&e))?;
            (EncodingKey::from_ec_der(der.as_bytes()), Algorithm::ES384)
        }
        // jsonwebtoken has no ES256K: RFC 8812 §3.2, deterministic ECDSA (RFC 6979), r || s.
        SigningKey::K256(secret) => {
            use k256::ecdsa::signature::Signer as _;
            let signing_key = k256::ecdsa::SigningKey::from(secret);
            let signature: k256::ecdsa::Signature =
                signing_key.try_sign(message).map_err(|e| failed(&e))?;
            return Ok(URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        }
    };
    jsonwebtoken::crypto::sign(message, &encoding_key, alg).map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::parse_private_key;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use serde_json::json;

    const RSA_FIXTURE: &str = include_str!("testdata/rsa-pkcs1.pem");

    fn rsa_key() -> SigningKey {
        parse_private_key(RSA_FIXTURE.as_bytes(), None).expect("RSA fixture")
    }

    /// One key of every kind `keys.rs` supports, with explicit kids.
    fn keystore() -> Keystore {
        let mut rng = StdRng::seed_from_u64(7515);
        Keystore::new(vec![
            (Some("rsa".into()), rsa_key()),
            (
                Some("p256".into()),
                SigningKey::P256(p256::SecretKey::random(&mut rng)),
            ),
            (
                Some("p384".into()),
                SigningKey::P384(p384::SecretKey::random(&mut rng)),
            ),
            (
                Some("k256".into()),
                SigningKey::K256(k256::SecretKey::random(&mut rng)),
            ),
        ])
        .expect("keystore")
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    /// A token with this header and claims and an arbitrary signature.
    fn forged(header: &Value, claims: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header),
            b64(claims),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    #[test]
    fn sign_then_verify_round_trips_for_every_algorithm() {
        let keystore = keystore();
        let public = PublicKeySet::from_jwks(&keystore.jwks()).expect("own JWKS");
        assert_eq!(public.len(), 4);
        let claims = json!({"iss": "https://auth.example.org/", "sub": "x", "n": 1});
        for (alg, kid) in [
            ("RS256", "rsa"),
            ("ES256", "p256"),
            ("ES384", "p384"),
            ("ES256K", "k256"),
        ] {
            let token = sign(&keystore, Some(alg), &claims).expect(alg);
            let verified = public
                .verify(&token)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(verified.header.alg, alg);
            assert_eq!(verified.header.kid.as_deref(), Some(kid));
            assert_eq!(verified.header.typ.as_deref(), Some("JWT"));
            assert_eq!(Value::Object(verified.claims), claims, "{alg}");

            // The signature covers the claims.
            let (head, rest) = token.split_once('.').expect("parts");
            let (_, signature) = rest.split_once('.').expect("parts");
            let tampered = format!("{head}.{}.{signature}", b64(&json!({"sub": "y"})));
            assert_eq!(
                public.verify(&tampered),
                Err(JwtError::BadSignature),
                "{alg}"
            );
        }
        // RS256 unless asked otherwise; an algorithm without a key is an error, not a fallback.
        let token = sign(&keystore, None, &claims).expect("default");
        assert_eq!(public.verify(&token).expect("verify").header.alg, "RS256");
        assert_eq!(
            sign(&keystore, Some("ES512"), &claims),
            Err(JwtError::NoSigningKey("ES512".into()))
        );
    }

    #[test]
    fn jsonwebtoken_verifies_what_gatehouse_signs() {
        // An independent verifier: the library's own decode with the public components.
        let keystore = keystore();
        let token = sign(&keystore, Some("RS256"), &json!({"sub": "x"})).expect("sign");
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(keystore.jwks()["keys"][0].clone()).expect("JWK");
        let key = DecodingKey::from_jwk(&jwk).expect("key");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("decode");
        assert_eq!(data.claims["sub"], "x");
    }

    #[test]
    fn alg_none_is_refused() {
        let public = PublicKeySet::from_jwks(&keystore().jwks()).expect("JWKS");
        for alg in ["none", "None", "NONE"] {
            let header = json!({"alg": alg});
            let empty = format!("{}.{}.", b64(&header), b64(&json!({"sub": "x"})));
            assert_eq!(public.verify(&empty), Err(JwtError::Unsigned), "{alg}");
            let signed = forged(&header, &json!({"sub": "x"}), b"sig");
            assert_eq!(public.verify(&signed), Err(JwtError::Unsigned), "{alg}");
            assert_eq!(
                verify_with_secret(&signed, b"secret"),
                Err(JwtError::Unsigned)
            );
        }
        // An empty signature with a real algorithm is no signature either.
        let empty = format!(
            "{}.{}.",
            b64(&json!({"alg": "RS256", "kid": "rsa"})),
            b64(&json!({}))
        );
        assert_eq!(public.verify(&empty), Err(JwtError::Unsigned));
    }

    #[test]
    fn hmac_against_a_public_key_set_is_refused() {
        // The classic confusion: HS256 keyed with the server's own public key text.
        let keystore = keystore();
        let jwks = keystore.jwks();
        let public = PublicKeySet::from_jwks(&jwks).expect("JWKS");
        let public_text = jwks["keys"][0].to_string();
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = jsonwebtoken::Header::new(alg);
            header.kid = Some("rsa".into());
            let token = jsonwebtoken::encode(
                &header,
                &json!({"sub": "x"}),
                &EncodingKey::from_secret(public_text.as_bytes()),
            )
            .expect("encode");
            assert!(
                matches!(
                    public.verify(&token),
                    Err(JwtError::SymmetricWithPublicKey(_))
                ),
                "{alg:?}"
            );
        }
        // And the other way round: a shared-secret verifier takes no public-key algorithm.
        let token = sign(&keystore, None, &json!({"sub": "x"})).expect("sign");
        assert_eq!(
            verify_with_secret(&token, public_text.as_bytes()),
            Err(JwtError::NotSymmetric("RS256".into()))
        );
    }

    #[test]
    fn shared_secret_round_trip() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(alg),
                &json!({"sub": "client"}),
                &EncodingKey::from_secret(b"the client secret"),
            )
            .expect("encode");
            let verified = verify_with_secret(&token, b"the client secret").expect("verify");
            assert_eq!(verified.claims["sub"], "client");
            assert_eq!(
                verify_with_secret(&token, b"another secret"),
                Err(JwtError::BadSignature)
            );
        }
    }

    #[test]
    fn oversized_input_is_refused() {
        let keystore = keystore();
        let public = PublicKeySet::from_jwks(&keystore.jwks()).expect("JWKS");
        let padding = "x".repeat(MAX_JWT_BYTES);
        let token = sign(&keystore, None, &json!({"pad": padding})).expect("sign");
        assert_eq!(public.verify(&token), Err(JwtError::TokenTooLarge));
        assert_eq!(
            verify_with_secret(&token, b"s"),
            Err(JwtError::TokenTooLarge)
        );
        assert_eq!(unverified_claims(&token), Err(JwtError::TokenTooLarge));

        // Just under the limit still verifies.
        let fits = sign(
            &keystore,
            None,
            &json!({"pad": "x".repeat(MAX_JWT_BYTES / 2)}),
        )
        .expect("sign");
        assert!(fits.len() < MAX_JWT_BYTES);
        assert!(public.verify(&fits).is_ok());

        let mut jwks = keystore.jwks();
        jwks["padding"] = json!("x".repeat(MAX_JWKS_BYTES));
        assert!(matches!(
            PublicKeySet::from_jwks(&jwks),
            Err(JwtError::JwksTooLarge)
        ));
        let text = jwks.to_string();
        assert!(matches!(
            PublicKeySet::from_json(text.as_bytes()),
            Err(JwtError::JwksTooLarge)
        ));
    }

    #[test]
    fn key_choice_by_kid_and_alg() {
        let mut rng = StdRng::seed_from_u64(7517);
        let other_rsa = SigningKey::Rsa(rsa::RsaPrivateKey::new(&mut rng, 2048).expect("rsa"));
        let keystore = Keystore::new(vec![
            (Some("a".into()), rsa_key()),
            (Some("b".into()), other_rsa.clone()),
        ])
        .expect("keystore");
        let public = PublicKeySet::from_jwks(&keystore.jwks()).expect("JWKS");
        let claims = json!({"sub": "x"});

        let by_b = sign_with("b", &other_rsa, &claims).expect("sign");
        assert!(public.verify(&by_b).is_ok());
        // Several keys: an unknown kid, or none at all, is refused rather than guessed.
        let unknown = sign_with("c", &other_rsa, &claims).expect("sign");
        assert_eq!(
            public.verify(&unknown),
            Err(JwtError::UnknownKid("c".into()))
        );
        let header = json!({"alg": "RS256"});
        let no_kid = forged(&header, &claims, b"sig");
        assert_eq!(
            public.verify(&no_kid),
            Err(JwtError::KidRequired("RS256".into()))
        );
        // The named key must fit the algorithm.
        let wrong_alg = forged(&json!({"alg": "ES256", "kid": "a"}), &claims, b"sig");
        assert_eq!(
            public.verify(&wrong_alg),
            Err(JwtError::NoKeyForAlgorithm("ES256".into()))
        );
        // A key signed by "a"'s kid but with "b"'s key does not verify.
        let mislabelled = sign_with("a", &other_rsa, &claims).expect("sign");
        assert_eq!(public.verify(&mislabelled), Err(JwtError::BadSignature));

        // A lone key without a kid verifies whatever kid the token names; a lone key with a
        // kid of its own does not.
        let mut jwk = keystore.jwks()["keys"][1].clone();
        jwk.as_object_mut().expect("object").remove("kid");
        let lone = PublicKeySet::from_jwks(&json!({"keys": [jwk]})).expect("JWKS");
        assert!(lone.verify(&unknown).is_ok());
        let lone_named =
            PublicKeySet::from_jwks(&json!({"keys": [keystore.jwks()["keys"][1]]})).expect("JWKS");
        assert_eq!(
            lone_named.verify(&unknown),
            Err(JwtError::UnknownKid("c".into()))
        );
    }

    #[test]
    fn malformed_tokens_and_headers() {
        let public = PublicKeySet::from_jwks(&keystore().jwks()).expect("JWKS");
        for token in ["", "a", "a.b", "a.b.c.d.e", "!!.e30.AA"] {
            assert!(
                matches!(public.verify(token), Err(JwtError::Malformed(_))),
                "{token:?}"
            );
        }
        let claims = json!({"sub": "x"});
        let crit = forged(
            &json!({"alg": "RS256", "kid": "rsa", "crit": ["exp"]}),
            &claims,
            b"s",
        );
        assert_eq!(public.verify(&crit), Err(JwtError::UnsupportedCritical));
        let unknown = forged(&json!({"alg": "EdDSA"}), &claims, b"s");
        assert_eq!(
            public.verify(&unknown),
            Err(JwtError::UnsupportedAlgorithm("EdDSA".into()))
        );
        let not_object = format!("{}.{}.AA", b64(&json!({"alg": "RS256"})), b64(&json!([1])));
        assert!(matches!(
            public.verify(&not_object),
            Err(JwtError::Malformed(_))
        ));
    }

    #[test]
    fn jwks_validation() {
        let keystore = keystore();
        let jwks = keystore.jwks();
        let invalid = |value: Value| {
            matches!(
                PublicKeySet::from_jwks(&value),
                Err(JwtError::InvalidJwks(_))
            )
        };
        assert!(invalid(json!({})));
        assert!(invalid(json!({"keys": []})));
        assert!(invalid(json!({"keys": [1]})));
        assert!(
            invalid(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
            "no usable key"
        );
        let mut private = jwks["keys"][1].clone();
        private["d"] = json!("AAAA");
        assert!(invalid(json!({"keys": [private]})));
        let mut off_curve = jwks["keys"][1].clone();
        off_curve["y"] = off_curve["x"].clone();
        assert!(invalid(json!({"keys": [off_curve]})));
        let mut short = jwks["keys"][1].clone();
        short["x"] = json!("AAAA");
        assert!(invalid(json!({"keys": [short]})));
        assert!(
            invalid(json!({"keys": [jwks["keys"][0], jwks["keys"][0]]})),
            "kid twice"
        );

        let mut rng = StdRng::seed_from_u64(1024);
        let weak = SigningKey::Rsa(rsa::RsaPrivateKey::new(&mut rng, 1024).expect("rsa"));
        assert!(invalid(json!({"keys": [weak.public_jwk("weak")]})));

        // Encryption keys and unknown types are skipped, not fatal.
        let mut enc = jwks["keys"][0].clone();
        enc["use"] = json!("enc");
        enc["kid"] = json!("enc");
        let set = PublicKeySet::from_jwks(&json!({"keys": [
            enc, {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}, jwks["keys"][1]
        ]}))
        .expect("JWKS");
        assert_eq!(set.len(), 1);
        // A JWK's `alg` restricts the key to it.
        let mut rs384_only = jwks["keys"][0].clone();
        rs384_only["alg"] = json!("RS384");
        let set = PublicKeySet::from_jwks(&json!({"keys": [rs384_only]})).expect("JWKS");
        let token = sign(&keystore, None, &json!({})).expect("sign");
        assert_eq!(
            set.verify(&token),
            Err(JwtError::NoKeyForAlgorithm("RS256".into()))
        );
    }
}

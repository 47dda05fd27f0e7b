//! JWT signing and verification speed: `cargo bench --bench jwt`.
//!
//! Prints figures, asserts nothing. Signs a typical ID-token-sized claim set with the
//! configured-key path (`crypto::jwt::sign`) and verifies it against the published JWK Set
//! (`PublicKeySet::verify`), for RS256 (2048-bit) and ES256. Each row is time-boxed.

use std::time::{Duration, Instant};

use gatehouse::crypto::{
    jwt::{self, PublicKeySet},
    keys::{Keystore, SigningKey},
};
use rand::SeedableRng;
use serde_json::json;

/// Wall-clock budget per row.
const BUDGET: Duration = Duration::from_secs(2);

fn measure(label: &str, mut op: impl FnMut()) {
    let start = Instant::now();
    let mut ops = 0u32;
    while start.elapsed() < BUDGET {
        op();
        ops += 1;
    }
    let elapsed = start.elapsed();
    println!(
        "{label:<14} {ops:>7} ops  {:>9.1} µs/op",
        elapsed.as_secs_f64() * 1e6 / f64::from(ops)
    );
}

fn main() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7519);
    let rsa = match rsa::RsaPrivateKey::new(&mut rng, 2048) {
        Ok(key) => SigningKey::Rsa(key),
        Err(e) => panic!("RSA key: {e}"),
    };
    let ec = SigningKey::P256(p256::SecretKey::random(&mut rng));
    let keystore = match Keystore::new(vec![(Some("rsa".into()), rsa), (Some("ec".into()), ec)]) {
        Ok(keystore) => keystore,
        Err(e) => panic!("keystore: {e}"),
    };
    let public = match PublicKeySet::from_jwks(&keystore.jwks()) {
        Ok(set) => set,
        Err(e) => panic!("JWKS: {e}"),
    };
    let claims = json!({
        "iss": "https://auth.example.org/", "sub": "01JC9R4V8B5D7M3N2P6Q8S0T1W",
        "aud": "01JC9R4V8B5D7M3N2P6Q8S0T1X", "iat": 1_800_000_000, "exp": 1_800_000_300,
        "nonce": "n-0S6_WzA2Mj", "auth_time": 1_800_000_000,
    });
    println!("JWT benchmark, {BUDGET:?} per row");
    for alg in ["RS256", "ES256"] {
        let token = match jwt::sign(&keystore, Some(alg), &claims) {
            Ok(token) => token,
            Err(e) => panic!("{alg}: {e}"),
        };
        measure(&format!("{alg} sign"), || {
            let _ = jwt::sign(&keystore, Some(alg), &claims);
        });
        measure(&format!("{alg} verify"), || {
            let _ = public.verify(&token);
        });
    }
}

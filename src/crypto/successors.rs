//! The tokens that replace a refresh token, drawn from a random source keyed by the token they
//! replace. Tokens are stored only as digests, so the one way to answer a repeated refresh with
//! the pair it already got (a client whose answer was lost sends the same refresh token again;
//! MAS answers it with the same successor) is to be able to make that pair again.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::{SeedableRng, rngs::StdRng};
use sha2::Sha256;

/// The key successors are derived with; it comes from `secrets.encryption`. Without it nobody
/// can tell a successor from the token it replaces: to the client it is as random as any token.
#[derive(Clone)]
pub struct SuccessorKey([u8; 32]);

impl SuccessorKey {
    pub fn new(encryption_key: &[u8; 32]) -> Self {
        Self(hmac_sha256(
            encryption_key,
            b"gatehouse: successors of refresh tokens, v1",
        ))
    }

    /// The random source the successors of `refresh_token` are drawn from: the same sequence
    /// every time for one token and key.
    pub fn rng_for(&self, refresh_token: &str) -> StdRng {
        StdRng::from_seed(hmac_sha256(&self.0, refresh_token.as_bytes()))
    }
}

impl fmt::Debug for SuccessorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SuccessorKey(..)")
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length");
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    fn draw(key: &SuccessorKey, token: &str) -> [u8; 16] {
        key.rng_for(token).r#gen()
    }

    #[test]
    fn one_token_gives_one_sequence() {
        let key = SuccessorKey::new(&[7; 32]);
        assert_eq!(draw(&key, "mar_a"), draw(&key, "mar_a"));
        assert_ne!(draw(&key, "mar_a"), draw(&key, "mar_b"));
    }

    #[test]
    fn another_key_gives_another_sequence() {
        let token = "mar_a";
        assert_ne!(
            draw(&SuccessorKey::new(&[7; 32]), token),
            draw(&SuccessorKey::new(&[8; 32]), token)
        );
    }

    #[test]
    fn hmac_known_answer() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

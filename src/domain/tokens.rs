//! Token strings: `<prefix>_<30 random base62>_<6-char base62 CRC-32>`, as MAS issues them, plus
//! recognition of the `syt_`/`syr_` tokens that Synapse issued before a migration.

use rand::{Rng, distributions::Alphanumeric};

/// What a token string is for, told by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// `mat_`: OAuth 2.0 access token.
    AccessToken,
    /// `mar_`: OAuth 2.0 refresh token.
    RefreshToken,
    /// `mct_` (or an imported Synapse `syt_`): compatibility-layer access token.
    CompatAccessToken,
    /// `mcr_` (or an imported Synapse `syr_`): compatibility-layer refresh token.
    CompatRefreshToken,
    /// `mpt_`: personal access token.
    PersonalAccessToken,
}

/// Why a string is not a token we could have issued. Checked before any database lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("token has an unknown prefix")]
    UnknownPrefix,
    #[error("token is not of the form prefix_random_checksum")]
    Malformed,
    #[error("token checksum does not match")]
    BadChecksum,
}

const RANDOM_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl TokenType {
    pub fn prefix(self) -> &'static str {
        match self {
            TokenType::AccessToken => "mat",
            TokenType::RefreshToken => "mar",
            TokenType::CompatAccessToken => "mct",
            TokenType::CompatRefreshToken => "mcr",
            TokenType::PersonalAccessToken => "mpt",
        }
    }

    fn from_prefix(prefix: &str) -> Option<Self> {
        Some(match prefix {
            "mat" => TokenType::AccessToken,
            "mar" => TokenType::RefreshToken,
            "mct" => TokenType::CompatAccessToken,
            "mcr" => TokenType::CompatRefreshToken,
            "mpt" => TokenType::PersonalAccessToken,
            _ => return None,
        })
    }

    /// A fresh token of this type.
    pub fn generate(self, rng: &mut impl Rng) -> String {
        let random: String = rng
            .sample_iter(&Alphanumeric)
            .take(RANDOM_LEN)
            .map(char::from)
            .collect();
        let body = format!("{}_{random}", self.prefix());
        let checksum = base62_checksum(&body);
        format!("{body}_{checksum}")
    }

    /// Tell the type of a presented token, rejecting anything that cannot be genuine without
    /// touching the database. Synapse's own tokens (`syt_`, `syr_`) are accepted as compat
    /// tokens because migrated clients keep using them; their checksum is Synapse's business.
    pub fn check(token: &str) -> Result<TokenType, TokenFormatError> {
        if token.len() > 512 {
            return Err(TokenFormatError::Malformed);
        }
        if let Some(rest) = token.strip_prefix("syt_") {
            return synapse_shaped(rest)
                .then_some(TokenType::CompatAccessToken)
                .ok_or(TokenFormatError::Malformed);
        }
        if let Some(rest) = token.strip_prefix("syr_") {
            return synapse_shaped(rest)
                .then_some(TokenType::CompatRefreshToken)
                .ok_or(TokenFormatError::Malformed);
        }
        let (prefix, _) = token.split_once('_').ok_or(TokenFormatError::Malformed)?;
        let token_type = TokenType::from_prefix(prefix).ok_or(TokenFormatError::UnknownPrefix)?;
        let (body, checksum) = token.rsplit_once('_').ok_or(TokenFormatError::Malformed)?;
        // `mct_abc` has one underscore: then `body` is just the prefix.
        let random = body
            .get(prefix.len() + 1..)
            .ok_or(TokenFormatError::Malformed)?;
        if random.len() != RANDOM_LEN
            || !random.bytes().all(|b| b.is_ascii_alphanumeric())
            || checksum.len() != CHECKSUM_LEN
        {
            return Err(TokenFormatError::Malformed);
        }
        if base62_checksum(body) != checksum {
            return Err(TokenFormatError::BadChecksum);
        }
        Ok(token_type)
    }
}

/// Synapse tokens are `syt_<b64 localpart>_<random>_<crc>`: only URL-safe characters.
fn synapse_shaped(rest: &str) -> bool {
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'='))
}

/// CRC-32/ISO-HDLC of `body`, base62 with the `0-9A-Za-z` alphabet, zero-padded to 6 characters.
fn base62_checksum(body: &str) -> String {
    let mut crc = crc32fast::hash(body.as_bytes());
    let mut digits = [b'0'; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

/// A random string of `len` ASCII letters and digits (device IDs, login tokens, codes).
pub fn random_alphanumeric(rng: &mut impl Rng, len: usize) -> String {
    rng.sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn generated_tokens_check_as_their_type() {
        let mut rng = StdRng::seed_from_u64(7);
        for ty in [
            TokenType::AccessToken,
            TokenType::RefreshToken,
            TokenType::CompatAccessToken,
            TokenType::CompatRefreshToken,
            TokenType::PersonalAccessToken,
        ] {
            let token = ty.generate(&mut rng);
            assert_eq!(token.len(), 3 + 1 + 30 + 1 + 6);
            assert!(token.starts_with(ty.prefix()));
            assert_eq!(TokenType::check(&token), Ok(ty));
        }
    }

    #[test]
    fn checksum_matches_known_vector() {
        // CRC-32/ISO-HDLC("123456789") = 0xCBF43926, the standard check value; its base62 form was
        // computed independently with Python's zlib.crc32.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(base62_checksum("123456789"), "3jZRME");
    }

    #[test]
    fn tampered_tokens_are_rejected_without_lookup() {
        let mut rng = StdRng::seed_from_u64(1);
        let token = TokenType::CompatAccessToken.generate(&mut rng);
        let mut tampered = token.clone().into_bytes();
        tampered[10] = if tampered[10] == b'a' { b'b' } else { b'a' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        assert_eq!(
            TokenType::check(&tampered),
            Err(TokenFormatError::BadChecksum)
        );
        assert_eq!(
            TokenType::check("xyz_abc_def"),
            Err(TokenFormatError::UnknownPrefix)
        );
        assert_eq!(
            TokenType::check("mct_short_abcdef"),
            Err(TokenFormatError::Malformed)
        );
        assert_eq!(
            TokenType::check("garbage"),
            Err(TokenFormatError::Malformed)
        );
        assert_eq!(TokenType::check(""), Err(TokenFormatError::Malformed));
    }

    #[test]
    fn a_prefix_with_one_underscore_is_malformed_not_a_panic() {
        for token in ["mct_abc", "mpt_", "mat__", "mct_x_"] {
            assert!(TokenType::check(token).is_err(), "{token}");
        }
    }

    #[test]
    fn synapse_tokens_are_compat_tokens() {
        assert_eq!(
            TokenType::check("syt_YWxpY2U_BxXcWzGiTBlvhPKqMpXu_0gJ5fA"),
            Ok(TokenType::CompatAccessToken)
        );
        assert_eq!(
            TokenType::check("syr_YWxpY2U_ZNhdFJwRYVfXXGzhdzCA_1Mqd2w"),
            Ok(TokenType::CompatRefreshToken)
        );
        assert_eq!(
            TokenType::check("syt_bad token"),
            Err(TokenFormatError::Malformed)
        );
    }
}

//! Scopes: the RFC 6749 §3.3 grammar ([`Scope`], [`is_scope_token`]) and the scope strings
//! Gatehouse grants and understands (MSC2967 and MAS's own).

use std::fmt;

/// Full Matrix client-server API access.
pub const MATRIX_API: &str = "urn:matrix:client:api:*";
/// The unstable MSC2967 form of [`MATRIX_API`]; clients and Synapse still use it.
pub const MATRIX_API_UNSTABLE: &str = "urn:matrix:org.matrix.msc2967.client:api:*";
/// Prefix of the scope naming the session's Matrix device.
pub const DEVICE_PREFIX: &str = "urn:matrix:client:device:";
/// The unstable MSC2967 form of [`DEVICE_PREFIX`].
pub const DEVICE_PREFIX_UNSTABLE: &str = "urn:matrix:org.matrix.msc2967.client:device:";
/// Synapse's admin API (Synapse treats the requester as a server admin).
pub const SYNAPSE_ADMIN: &str = "urn:synapse:admin:*";
/// Gatehouse's (MAS's) admin API.
pub const MAS_ADMIN: &str = "urn:mas:admin";
/// OpenID Connect: the client wants an ID token (OIDC Core §3.1.2.1).
pub const OPENID: &str = "openid";
/// OpenID Connect: the client may read the user's email address (OIDC Core §5.4).
pub const EMAIL: &str = "email";

/// Whether `token` is an RFC 6749 §3.3 scope-token: one or more of `%x21 / %x23-5B / %x5D-7E`
/// (printable ASCII but space, `"` and `\`).
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// A scope: scope-tokens in the order first given, without duplicates. Written and read as
/// RFC 6749's space-delimited list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

/// A scope string that breaks the grammar, with the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid scope {0:?}: scope tokens are printable ASCII without spaces, quotes or backslashes"
)]
pub struct InvalidScope(pub String);

impl Scope {
    /// Parse a space-delimited scope, refusing tokens outside the grammar.
    pub fn parse(text: &str) -> Result<Self, InvalidScope> {
        Self::from_tokens(text.split(' ').filter(|token| !token.is_empty()))
    }

    /// A scope of these tokens, each checked against the grammar.
    pub fn from_tokens<S: AsRef<str>>(
        tokens: impl IntoIterator<Item = S>,
    ) -> Result<Self, InvalidScope> {
        let mut scope = Scope::default();
        for token in tokens {
            let token = token.as_ref();
            if !is_scope_token(token) {
                return Err(InvalidScope(token.to_owned()));
            }
            scope.insert(token);
        }
        Ok(scope)
    }

    /// Read a scope this server stored (already checked when written). Tokens that do not fit
    /// the grammar are dropped rather than trusted.
    pub fn from_stored(text: &str) -> Self {
        let mut scope = Scope::default();
        for token in text.split(' ').filter(|token| is_scope_token(token)) {
            scope.insert(token);
        }
        scope
    }

    /// Add a token (once). The caller vouches for its grammar: constants and checked input.
    pub fn insert(&mut self, token: &str) {
        if !self.contains(token) {
            self.0.push(token.to_owned());
        }
    }

    pub fn remove(&mut self, token: &str) {
        self.0.retain(|t| t != token);
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.iter().all(|token| other.contains(token))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl<'a> IntoIterator for &'a Scope {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The device a scope list names, if any (stable or unstable form).
pub fn device_from_scopes<'a>(scopes: impl IntoIterator<Item = &'a String>) -> Option<&'a str> {
    scopes.into_iter().find_map(|scope| {
        scope
            .strip_prefix(DEVICE_PREFIX)
            .or_else(|| scope.strip_prefix(DEVICE_PREFIX_UNSTABLE))
    })
}

/// Whether a device ID can be written as a device scope (RFC 6749 scope-token characters and
/// no space). Others are sent to Synapse as an explicit `device_id`.
pub fn device_fits_in_scope(device_id: &str) -> bool {
    is_scope_token(device_id)
}

/// Whether `device_id` may name the device of an OAuth 2.0 session, by MAS's rule: at least 10
/// characters of `[A-Za-z0-9._~!$&'()*+,;=:@/-]`, so that the base64 Curve25519 key QR login
/// uses (43 characters, with `+` and `/`) fits. At most 255, like any device ID Synapse keeps.
pub fn is_valid_oauth_device_id(device_id: &str) -> bool {
    (10..=255).contains(&device_id.len())
        && device_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~!$&'()*+,;=:@/-".contains(&b))
}

/// Add the stable or unstable twin of every Matrix scope present, as MAS's introspection does,
/// so that any Synapse version recognises them. Order is kept; duplicates are not added.
pub fn with_matrix_twins(scope: &Scope) -> Scope {
    let mut out = Scope::default();
    for token in scope.iter() {
        out.insert(token);
        if token == MATRIX_API {
            out.insert(MATRIX_API_UNSTABLE);
        } else if token == MATRIX_API_UNSTABLE {
            out.insert(MATRIX_API);
        } else if let Some(device) = token.strip_prefix(DEVICE_PREFIX) {
            out.insert(&format!("{DEVICE_PREFIX_UNSTABLE}{device}"));
        } else if let Some(device) = token.strip_prefix(DEVICE_PREFIX_UNSTABLE) {
            out.insert(&format!("{DEVICE_PREFIX}{device}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_and_devices() {
        let scopes = Scope::parse(&format!("{MATRIX_API} {DEVICE_PREFIX}ABC")).expect("valid");
        let all = with_matrix_twins(&scopes);
        assert_eq!(
            all.to_string(),
            format!(
                "{MATRIX_API} {MATRIX_API_UNSTABLE} {DEVICE_PREFIX}ABC {DEVICE_PREFIX_UNSTABLE}ABC"
            )
        );
        assert_eq!(device_from_scopes(&all), Some("ABC"));
        assert!(device_fits_in_scope("ABCDEF1234"));
        assert!(!device_fits_in_scope("has space"));
        assert!(!device_fits_in_scope("quote\"d"));
        assert!(!device_fits_in_scope(""));
    }

    #[test]
    fn oauth_device_ids() {
        // A QR login's device: a base64 Curve25519 key.
        assert!(is_valid_oauth_device_id(
            "hB3v+Zy0yQ/LW9wC8nF0rV7c2mY4k1s6qP5dXo+gT/8"
        ));
        assert!(is_valid_oauth_device_id("ABCDEFGHIJ"));
        assert!(is_valid_oauth_device_id(
            "a.b_c~d!e$f&g'h(i)j*k,l;m=n:o@p-q"
        ));
        assert!(!is_valid_oauth_device_id("ABCDEFGHI"), "nine characters");
        assert!(!is_valid_oauth_device_id("ABCDE FGHIJ"));
        assert!(!is_valid_oauth_device_id("ABCDEFGHIJ%"));
        assert!(!is_valid_oauth_device_id("ABCDEFGHIJ\u{e9}"));
        assert!(!is_valid_oauth_device_id(&"A".repeat(256)));
    }

    #[test]
    fn scope_grammar() {
        let scope = Scope::parse("openid  email openid").expect("valid");
        assert_eq!(
            scope.to_string(),
            "openid email",
            "duplicates and empty tokens go"
        );
        assert!(scope.contains("email") && !scope.contains("profile"));
        assert!(Scope::parse("a\\b").is_err());
        assert!(Scope::parse("a\"b").is_err());
        assert!(Scope::parse("caf\u{e9}").is_err());
        assert!(Scope::parse("tab\tsep").is_err());
        assert!(Scope::parse("").expect("empty is valid").is_empty());
        assert_eq!(Scope::from_stored("ok bad\"one ok").to_string(), "ok");
        let small = Scope::parse("email").expect("valid");
        assert!(small.is_subset_of(&scope) && !scope.is_subset_of(&small));
    }
}

//! Scope strings Gatehouse grants and understands (MSC2967 and MAS's own).

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
    !device_id.is_empty()
        && device_id
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Add the stable or unstable twin of every Matrix scope present, as MAS's introspection does,
/// so that any Synapse version recognises them. Order is kept; duplicates are not added.
pub fn with_matrix_twins(scopes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(scopes.len() * 2);
    let mut push = |scope: String| {
        if !out.contains(&scope) {
            out.push(scope);
        }
    };
    for scope in scopes {
        push(scope.clone());
        if scope == MATRIX_API {
            push(MATRIX_API_UNSTABLE.to_owned());
        } else if scope == MATRIX_API_UNSTABLE {
            push(MATRIX_API.to_owned());
        } else if let Some(device) = scope.strip_prefix(DEVICE_PREFIX) {
            push(format!("{DEVICE_PREFIX_UNSTABLE}{device}"));
        } else if let Some(device) = scope.strip_prefix(DEVICE_PREFIX_UNSTABLE) {
            push(format!("{DEVICE_PREFIX}{device}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_and_devices() {
        let scopes = vec![MATRIX_API.to_owned(), format!("{DEVICE_PREFIX}ABC")];
        let all = with_matrix_twins(&scopes);
        assert_eq!(
            all,
            [
                MATRIX_API.to_owned(),
                MATRIX_API_UNSTABLE.to_owned(),
                format!("{DEVICE_PREFIX}ABC"),
                format!("{DEVICE_PREFIX_UNSTABLE}ABC"),
            ]
        );
        assert_eq!(device_from_scopes(&all), Some("ABC"));
        assert!(device_fits_in_scope("ABCDEF1234"));
        assert!(!device_fits_in_scope("has space"));
        assert!(!device_fits_in_scope("quote\"d"));
        assert!(!device_fits_in_scope(""));
    }
}

//! `Debug` stand-ins for secrets (passwords, tokens, keys, hashes): what holds one prints
//! `[redacted]` in its place, so a secret never reaches a log through `{:?}`.

use std::fmt;

/// Prints `[redacted]`.
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Prints `Some([redacted])` or `None`: whether an optional secret is set, never its value.
pub struct RedactedOption<'a, T>(pub &'a Option<T>);

impl<T> fmt::Debug for RedactedOption<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some([redacted])"),
            None => f.write_str("None"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_no_value() {
        assert_eq!(format!("{Redacted:?}"), "[redacted]");
        assert_eq!(
            format!("{:?}", RedactedOption(&Some("hunter2"))),
            "Some([redacted])"
        );
        assert_eq!(format!("{:?}", RedactedOption::<&str>(&None)), "None");
    }
}

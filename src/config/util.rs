//! Small helpers shared by the section modules: secret redaction for `Debug`, `x` / `x_file`
//! exclusivity checks, reading referenced files, and serde helpers.

use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use super::ConfigError;

/// `Debug` stand-in for an optional secret: prints whether it is set, never its value.
pub(crate) use crate::domain::redact::RedactedOption as Redacted;

pub(crate) fn empty_map() -> Value {
    Value::Mapping(Mapping::new())
}

pub(crate) fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Mapping(map) => map.is_empty(),
        _ => false,
    }
}

pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}

/// Checks the MAS "`x` or `x_file`" convention. `required` means exactly one must be set;
/// otherwise at most one.
pub(crate) fn check_exclusive(
    prefix: &str,
    inline: (&str, bool),
    file: (&str, bool),
    required: bool,
) -> Result<(), ConfigError> {
    let path = if prefix.is_empty() {
        inline.0.to_owned()
    } else {
        format!("{prefix}.{}", inline.0)
    };
    match (inline.1, file.1) {
        (true, true) => Err(ConfigError::invalid(
            path,
            format!("`{}` and `{}` are mutually exclusive", inline.0, file.0),
        )),
        (false, false) if required => Err(ConfigError::invalid(
            path,
            format!("one of `{}` or `{}` is required", inline.0, file.0),
        )),
        _ => Ok(()),
    }
}

/// Reads a file referenced by the configuration key `key`. Relative paths are relative to the
/// working directory.
pub(crate) fn read_file(key: &str, file: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(file).map_err(|source| ConfigError::File {
        key: key.to_owned(),
        file: file.to_owned(),
        source,
    })
}

/// Reads a UTF-8 file referenced by `key`, with surrounding whitespace removed.
pub(crate) fn read_trimmed_string(key: &str, file: &Path) -> Result<String, ConfigError> {
    let bytes = read_file(key, file)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ConfigError::invalid(key, format!("{} is not UTF-8", file.display())))?;
    Ok(text.trim().to_owned())
}

/// Removes one trailing line ending (`\n` or `\r\n`), as left by editors and `echo`.
pub(crate) fn strip_line_ending(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    bytes
}

/// Serde adapter for `ulid::Ulid` as its canonical 26-character string.
pub(crate) mod ulid_string {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(crate) fn serialize<S: Serializer>(id: &ulid::Ulid, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ulid::Ulid, D::Error> {
        let text = String::deserialize(d)?;
        ulid::Ulid::from_string(&text)
            .map_err(|e| D::Error::custom(format!("{text:?} is not a valid ULID: {e}")))
    }
}

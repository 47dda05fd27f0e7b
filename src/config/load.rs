//! Reading configuration files: YAML parsing, deep-merging several files in order,
//! deserializing with unknown keys collected as warnings and bad values reported by key path,
//! then [`RootConfig::validate`].

use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::{ConfigError, RootConfig};

/// A loaded and validated configuration, with the non-fatal remarks made while loading it
/// (unknown keys, deprecated keys). Callers should log each warning.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: RootConfig,
    pub warnings: Vec<String>,
}

/// The configuration files to read: the `--config` paths if any were given, otherwise the
/// `:`-separated list in `env_value` (the `MAS_CONFIG` variable), otherwise `config.yaml`.
pub fn config_paths(cli_paths: &[PathBuf], env_value: Option<&str>) -> Vec<PathBuf> {
    if !cli_paths.is_empty() {
        return cli_paths.to_vec();
    }
    let from_env: Vec<PathBuf> = env_value
        .unwrap_or_default()
        .split(':')
        .filter(|part| !part.is_empty())
        .map(PathBuf::from)
        .collect();
    if from_env.is_empty() {
        vec![PathBuf::from("config.yaml")]
    } else {
        from_env
    }
}

/// Reads every file in order, deep-merges them (later files win; see [`merge_values`]),
/// deserializes and validates the result.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, ConfigError> {
    let mut merged = Value::Mapping(Mapping::new());
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let value = parse_yaml(&text, path)?;
        // A file holding only comments parses as `null`: it changes nothing.
        if !value.is_null() {
            merge_values(&mut merged, value);
        }
    }
    from_value(merged)
}

/// Loads a configuration from one YAML document (mostly for tests).
pub fn from_str(yaml: &str) -> Result<Loaded, ConfigError> {
    from_value(parse_yaml(yaml, Path::new("<string>"))?)
}

fn parse_yaml(text: &str, path: &Path) -> Result<Value, ConfigError> {
    let yaml_error = |source| ConfigError::Yaml {
        path: path.to_owned(),
        source,
    };
    let mut value: Value = serde_yaml_ng::from_str(text).map_err(yaml_error)?;
    // Honour `<<: *anchor` merge keys.
    value.apply_merge().map_err(yaml_error)?;
    Ok(value)
}

/// Deep-merges `overlay` into `base` the way MAS merges its `--config` files: mappings merge key
/// by key, recursively; sequences are concatenated (a `clients:` list may be split across
/// files); anything else in `overlay` replaces what `base` had.
pub fn merge_values(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(base), Value::Mapping(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge_values(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (Value::Sequence(base), Value::Sequence(overlay)) => base.extend(overlay),
        (base, overlay) => *base = overlay,
    }
}

/// Deserializes and validates an already merged YAML value.
pub fn from_value(value: Value) -> Result<Loaded, ConfigError> {
    let value = match value {
        Value::Null => Value::Mapping(Mapping::new()),
        other => other,
    };
    let mut warnings = Vec::new();
    let mut on_ignored = |path: serde_ignored::Path<'_>| {
        let mut rendered = String::new();
        render_ignored_path(&path, &mut rendered);
        warnings.push(format!(
            "unknown configuration key \"{rendered}\" (ignored)"
        ));
    };
    let deserializer = serde_ignored::Deserializer::new(value, &mut on_ignored);
    let config: RootConfig =
        serde_path_to_error::deserialize(deserializer).map_err(|error| ConfigError::Invalid {
            path: error.path().to_string(),
            message: error.inner().to_string(),
        })?;
    config.validate()?;
    warnings.extend(config.deprecation_warnings());
    Ok(Loaded { config, warnings })
}

/// Renders a `serde_ignored` path as `http.listeners[0].naem`.
fn render_ignored_path(path: &serde_ignored::Path<'_>, out: &mut String) {
    use serde_ignored::Path as P;
    match path {
        P::Root => {}
        P::Seq { parent, index } => {
            render_ignored_path(parent, out);
            out.push_str(&format!("[{index}]"));
        }
        P::Map { parent, key } => {
            render_ignored_path(parent, out);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            render_ignored_path(parent, out);
        }
    }
}

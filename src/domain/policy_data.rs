//! Policy data set at run time (the admin API's `policy-data`): a JSON object laid over
//! `policy.data` from the configuration, the way MAS combines its static and dynamic data.

use chrono::{DateTime, Utc};
use serde_json::Value;
use ulid::Ulid;

/// One version of the policy data, as stored. The newest is in force.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPolicyData {
    pub id: Ulid,
    pub created_at: DateTime<Utc>,
    /// A JSON object.
    pub data: Value,
}

/// Two values of different kinds (an object over a list, …) cannot be laid over each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: cannot lay a {over} over a {under}")]
pub struct MergeError {
    /// Where, as a dotted key path (`client_registration.allow_insecure_uris`).
    pub at: String,
    pub over: &'static str,
    pub under: &'static str,
}

/// Lay `over` on `under`, as MAS does with its dynamic policy data: objects merge key by key,
/// lists are concatenated, a scalar replaces a scalar of its kind, `null` replaces anything
/// and is replaced by anything. Any other pair is an error.
pub fn merge(under: &mut Value, over: Value) -> Result<(), MergeError> {
    merge_at(under, over, &mut Vec::new())
}

fn merge_at(under: &mut Value, over: Value, path: &mut Vec<String>) -> Result<(), MergeError> {
    match (under, over) {
        (Value::Object(under), Value::Object(over)) => {
            for (key, value) in over {
                match under.get_mut(&key) {
                    Some(below) => {
                        path.push(key);
                        merge_at(below, value, path)?;
                        path.pop();
                    }
                    None => {
                        under.insert(key, value);
                    }
                }
            }
        }
        (Value::Array(under), Value::Array(over)) => under.extend(over),
        (under @ Value::Null, over) => *under = over,
        (under, Value::Null) => *under = Value::Null,
        (under @ Value::Bool(_), over @ Value::Bool(_))
        | (under @ Value::Number(_), over @ Value::Number(_))
        | (under @ Value::String(_), over @ Value::String(_)) => *under = over,
        (under, over) => {
            return Err(MergeError {
                at: if path.is_empty() {
                    ".".to_owned()
                } else {
                    path.join(".")
                },
                over: kind(&over),
                under: kind(under),
            });
        }
    }
    Ok(())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn merged(under: Value, over: Value) -> Result<Value, MergeError> {
        let mut under = under;
        merge(&mut under, over)?;
        Ok(under)
    }

    #[test]
    fn objects_merge_lists_add_scalars_replace() {
        let config = json!({
            "admin_clients": ["01JA8ZQ3XK5W7N2M4P6R9T1V3Y"],
            "client_registration": {"allow_insecure_uris": false, "allow_host_mismatch": true},
            "other": null,
        });
        let set = json!({
            "admin_clients": ["01JA8ZQ3XK5W7N2M4P6R9T1V3Z"],
            "client_registration": {"allow_insecure_uris": true},
            "other": 3,
            "new": "x",
        });
        assert_eq!(
            merged(config, set).unwrap(),
            json!({
                "admin_clients": ["01JA8ZQ3XK5W7N2M4P6R9T1V3Y", "01JA8ZQ3XK5W7N2M4P6R9T1V3Z"],
                "client_registration": {"allow_insecure_uris": true, "allow_host_mismatch": true},
                "other": 3,
                "new": "x",
            })
        );
        assert_eq!(
            merged(json!({"a": {"b": 1}}), json!({"a": null})).unwrap(),
            json!({"a": null})
        );
    }

    #[test]
    fn different_kinds_are_an_error_naming_the_key() {
        let error = merged(
            json!({"client_registration": {"allow_insecure_uris": false}}),
            json!({"client_registration": {"allow_insecure_uris": "yes"}}),
        )
        .unwrap_err();
        assert_eq!(error.at, "client_registration.allow_insecure_uris");
        assert_eq!((error.over, error.under), ("string", "boolean"));
        assert_eq!(merged(json!({}), json!([])).unwrap_err().at, ".");
    }
}

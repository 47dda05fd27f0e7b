//! The checked-in OpenAPI document is what the code generates, and every operation is
//! documented: an operationId, a tag, a summary and its error responses.

use std::path::Path;

use serde_json::Value;

const REGENERATE: &str = "regenerate it with `cargo run -- openapi dump -o openapi/admin-v1.json` \
    (or `GATEHOUSE_UPDATE_OPENAPI=1 cargo test --test it openapi`) and commit the result";

#[test]
fn checked_in_spec_matches_the_code() {
    let generated = gatehouse::http::admin::spec_json();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/admin-v1.json");
    if std::env::var("GATEHOUSE_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/admin-v1.json differs from the spec the code generates: {REGENERATE}"
    );
}

#[test]
fn every_operation_is_documented() {
    let spec: Value = serde_json::from_str(&gatehouse::http::admin::spec_json()).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.0."));
    let mut ids = std::collections::HashSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            let id = operation["operationId"].as_str();
            assert!(id.is_some(), "{what}: no operationId");
            assert!(
                ids.insert(id.unwrap().to_owned()),
                "{what}: duplicate operationId"
            );
            assert!(
                operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{what}: no tag"
            );
            assert!(
                operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{what}: no summary"
            );
            let responses = operation["responses"].as_object().unwrap();
            for status in ["400", "401"] {
                assert!(
                    responses.contains_key(status),
                    "{what}: {status} undocumented"
                );
            }
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{what}: no success response"
            );
        }
    }
}

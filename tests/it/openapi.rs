//! The checked-in OpenAPI document is what the code generates, and every operation is
//! documented: an operationId, a tag, a summary, examples and its error responses.

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
            let mut errors = vec!["400", "401"];
            // An ID in the path may name nothing; a body may be refused.
            if path.contains('{') {
                errors.push("404");
            }
            if operation.get("requestBody").is_some() {
                errors.push("422");
            }
            for status in errors {
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

/// The example of a media type: its own, or its schema's (through a `$ref`).
fn example<'a>(spec: &'a Value, media: &'a Value) -> Option<&'a Value> {
    let own = media.get("example").or_else(|| media.get("examples"));
    own.or_else(|| {
        let schema = &media["schema"];
        let schema = match schema["$ref"].as_str() {
            Some(reference) => spec.pointer(reference.strip_prefix('#')?)?,
            None => schema,
        };
        schema.get("example")
    })
}

#[test]
fn every_body_has_an_example() {
    let spec: Value = serde_json::from_str(&gatehouse::http::admin::spec_json()).unwrap();
    let mut missing = Vec::new();
    let mut bodies = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let request = operation.get("requestBody").map(|body| ("request", body));
            let responses = operation["responses"].as_object().unwrap();
            let responses = responses
                .iter()
                .map(|(status, body)| (status.as_str(), body));
            for (what, body) in request.into_iter().chain(responses) {
                let Some(content) = body.get("content").and_then(Value::as_object) else {
                    continue;
                };
                for (content_type, media) in content {
                    bodies += 1;
                    if example(&spec, media).is_none() {
                        missing.push(format!("{method} {path}: {what} {content_type}"));
                    }
                }
            }
        }
    }
    assert!(bodies > 0, "no bodies in the spec");
    assert!(
        missing.is_empty(),
        "bodies without an example (add `#[oai(example)]` and `impl Example` to the type): \
         {missing:#?}"
    );
}

//! The checked-in OpenAPI document is what the code generates, and every operation is
//! documented: an operationId, a tag, a summary, examples and its error responses — exactly
//! the statuses it can answer, no more.

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
            // Every operation needs a token and reads the database.
            let mut errors = vec!["401", "500"];
            // poem-openapi refuses a parameter or body that does not parse with a 400, and a
            // body of another content type with a 415, before the handler runs.
            let takes_parameters = operation["parameters"]
                .as_array()
                .is_some_and(|parameters| !parameters.is_empty());
            let takes_body = operation.get("requestBody").is_some();
            if takes_parameters || takes_body {
                errors.push("400");
            }
            if takes_body {
                errors.push("415");
            }
            // An ID in the path may name nothing.
            if path.contains('{') {
                errors.push("404");
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

/// What each operation can answer, worked out from its handler: 401 and 500 everywhere (a
/// token is checked against the database); 400 where poem-openapi parses a parameter or a body
/// (or the handler parses an ID); 404 where a named resource may not exist; 409 where the
/// request may conflict with the state (a taken name, a session already finished); 415 where a
/// body is read; 422 where the handler refuses content (a username, a password, a scope).
const STATUSES: &[(&str, &[u16])] = &[
    ("version", &[200, 401, 500]),
    ("siteConfig", &[200, 401, 500]),
    // Users.
    ("listUsers", &[200, 400, 401, 500]),
    ("createUser", &[201, 400, 401, 409, 415, 422, 500]),
    ("getUser", &[200, 400, 401, 404, 500]),
    ("getUserByUsername", &[200, 400, 401, 404, 500]),
    ("setUserPassword", &[204, 400, 401, 404, 415, 422, 500]),
    ("userSetAdmin", &[200, 400, 401, 404, 415, 500]),
    ("deactivateUser", &[200, 400, 401, 404, 415, 500]),
    ("reactivateUser", &[200, 400, 401, 404, 500]),
    ("lockUser", &[200, 400, 401, 404, 500]),
    ("unlockUser", &[200, 400, 401, 404, 500]),
    ("setUserDisplayName", &[200, 400, 401, 404, 415, 500]),
    ("unsetUserDisplayName", &[200, 400, 401, 404, 500]),
    ("bulkUsers", &[200, 400, 401, 415, 500]),
    ("exportUsersCsv", &[200, 401, 500]),
    ("importUsers", &[200, 400, 401, 415, 500]),
    // Devices.
    ("listUserDevices", &[200, 400, 401, 404, 500]),
    ("renameUserDevice", &[200, 400, 401, 404, 415, 500]),
    ("deleteUserDevice", &[204, 400, 401, 404, 500]),
    // User emails.
    ("listUserEmails", &[200, 400, 401, 500]),
    ("addUserEmail", &[201, 400, 401, 404, 409, 415, 422, 500]),
    ("getUserEmail", &[200, 400, 401, 404, 500]),
    ("deleteUserEmail", &[204, 400, 401, 404, 500]),
    // Sessions.
    ("listCompatSessions", &[200, 400, 401, 500]),
    ("getCompatSession", &[200, 400, 401, 404, 500]),
    ("finishCompatSession", &[200, 400, 401, 404, 409, 500]),
    ("listOAuth2Sessions", &[200, 400, 401, 500]),
    ("getOAuth2Session", &[200, 400, 401, 404, 500]),
    ("finishOAuth2Session", &[200, 400, 401, 404, 409, 500]),
    ("listUserSessions", &[200, 400, 401, 500]),
    ("getUserSession", &[200, 400, 401, 404, 500]),
    ("finishUserSession", &[200, 400, 401, 404, 409, 500]),
    ("listPersonalSessions", &[200, 400, 401, 500]),
    (
        "createPersonalSession",
        &[201, 400, 401, 404, 415, 422, 500],
    ),
    ("getPersonalSession", &[200, 400, 401, 404, 500]),
    ("revokePersonalSession", &[200, 400, 401, 404, 409, 500]),
    (
        "regeneratePersonalSession",
        &[200, 400, 401, 404, 409, 415, 500],
    ),
    // OAuth 2.0 clients.
    ("listOAuth2Clients", &[200, 400, 401, 500]),
    ("getOAuth2Client", &[200, 400, 401, 404, 500]),
    // Registration tokens.
    ("listUserRegistrationTokens", &[200, 400, 401, 500]),
    ("addUserRegistrationToken", &[201, 400, 401, 409, 415, 500]),
    ("getUserRegistrationToken", &[200, 400, 401, 404, 500]),
    (
        "updateUserRegistrationToken",
        &[200, 400, 401, 404, 415, 500],
    ),
    (
        "revokeUserRegistrationToken",
        &[200, 400, 401, 404, 409, 500],
    ),
    (
        "unrevokeUserRegistrationToken",
        &[200, 400, 401, 404, 409, 500],
    ),
    // Policy data.
    ("setPolicyData", &[201, 400, 401, 415, 500]),
    ("getLatestPolicyData", &[200, 401, 404, 500]),
    ("getPolicyData", &[200, 400, 401, 404, 500]),
    // Upstream OAuth 2.0.
    ("listUpstreamOAuthProviders", &[200, 400, 401, 500]),
    ("getUpstreamOAuthProvider", &[200, 400, 401, 404, 500]),
    ("listUpstreamOAuthLinks", &[200, 400, 401, 500]),
    ("addUpstreamOAuthLink", &[201, 400, 401, 404, 409, 415, 500]),
    ("getUpstreamOAuthLink", &[200, 400, 401, 404, 500]),
    ("deleteUpstreamOAuthLink", &[204, 400, 401, 404, 500]),
];

/// Each operation's documented statuses, by operationId.
fn documented_statuses(spec: &Value) -> std::collections::BTreeMap<String, Vec<u16>> {
    let mut documented = std::collections::BTreeMap::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            let mut statuses: Vec<u16> = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|status| status.parse().unwrap())
                .collect();
            statuses.sort_unstable();
            documented.insert(id, statuses);
        }
    }
    documented
}

#[test]
fn each_operation_documents_exactly_the_statuses_it_can_answer() {
    let spec: Value = serde_json::from_str(&gatehouse::http::admin::spec_json()).unwrap();
    let documented = documented_statuses(&spec);
    let expected: std::collections::BTreeMap<String, Vec<u16>> = STATUSES
        .iter()
        .map(|(id, statuses)| ((*id).to_owned(), statuses.to_vec()))
        .collect();
    assert_eq!(
        expected.len(),
        STATUSES.len(),
        "an operation is twice in the table"
    );
    let mut wrong = Vec::new();
    for (id, statuses) in &documented {
        match expected.get(id) {
            None => wrong.push(format!("{id}: not in the table (documents {statuses:?})")),
            Some(want) if want != statuses => {
                wrong.push(format!("{id}: documents {statuses:?}, expected {want:?}"))
            }
            Some(_) => {}
        }
    }
    for id in expected.keys() {
        if !documented.contains_key(id) {
            wrong.push(format!("{id}: in the table but not in the spec"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn version_documents_only_what_it_can_answer() {
    let spec: Value = serde_json::from_str(&gatehouse::http::admin::spec_json()).unwrap();
    let responses = spec["paths"]["/version"]["get"]["responses"]
        .as_object()
        .unwrap();
    for status in ["400", "404", "409", "415", "422"] {
        assert!(
            !responses.contains_key(status),
            "GET /version documents {status}, which it never answers"
        );
    }
    let mut statuses: Vec<&str> = responses.keys().map(String::as_str).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["200", "401", "500"]);
}

/// The spec is the contract: an error of a status the operation does not document (a conflict
/// where none is expected) is answered as a 500; a documented one goes through as it is.
#[test]
fn an_undocumented_status_is_answered_as_500() {
    use gatehouse::http::admin::error::{AdminError, CONFLICT, NOT_FOUND, OpError};
    use poem::IntoResponse;
    let answer = |error: OpError<{ NOT_FOUND }>| error.into_response().status().as_u16();
    assert_eq!(
        answer(AdminError::not_found("User ID x not found").into()),
        404
    );
    assert_eq!(answer(AdminError::unauthorized().into()), 401);
    assert_eq!(answer(AdminError::conflict("x already exists").into()), 500);
    assert_eq!(
        answer(AdminError::bad_request("x is not a ULID").into()),
        500
    );
    let answer = |error: OpError<{ NOT_FOUND | CONFLICT }>| error.into_response().status().as_u16();
    assert_eq!(answer(AdminError::conflict("x already exists").into()), 409);
}

/// Gatehouse's operations beyond MAS's admin API, by method and path.
const GATEHOUSE_ONLY_OPERATIONS: &[(&str, &str)] = &[
    // Bulk account work and CSV export/import.
    ("post", "/api/admin/v1/users/bulk"),
    ("get", "/api/admin/v1/users/export.csv"),
    ("post", "/api/admin/v1/users/import"),
    // Display names, kept in Synapse.
    ("post", "/api/admin/v1/users/{id}/set-displayname"),
    ("post", "/api/admin/v1/users/{id}/unset-displayname"),
    // A user's Matrix devices.
    ("get", "/api/admin/v1/users/{id}/devices"),
    ("put", "/api/admin/v1/users/{id}/devices/{device_id}"),
    ("delete", "/api/admin/v1/users/{id}/devices/{device_id}"),
];

/// Attributes Gatehouse adds to MAS's operations: (method, path, attribute).
const GATEHOUSE_ONLY_ATTRIBUTES: &[(&str, &str, &str)] = &[
    // How a client authenticates, whether it has a secret (never the secret) and when it was
    // registered: what an admin checks before trusting a client.
    (
        "get",
        "/api/admin/v1/oauth2-clients",
        "token_endpoint_auth_method",
    ),
    ("get", "/api/admin/v1/oauth2-clients", "has_client_secret"),
    ("get", "/api/admin/v1/oauth2-clients", "created_at"),
    (
        "get",
        "/api/admin/v1/oauth2-clients/{id}",
        "token_endpoint_auth_method",
    ),
    (
        "get",
        "/api/admin/v1/oauth2-clients/{id}",
        "has_client_secret",
    ),
    ("get", "/api/admin/v1/oauth2-clients/{id}", "created_at"),
];

/// Query parameters Gatehouse adds to MAS's operations: (method, path, parameter). None yet.
const GATEHOUSE_ONLY_QUERY: &[(&str, &str, &str)] = &[];

/// What `scripts/mas-admin-facts.py` extracts, per operation (the same rules, in Rust).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperationFacts {
    path: String,
    method: String,
    operation_id: Option<String>,
    query: Vec<String>,
    attributes: Vec<String>,
}

mod facts {
    use serde_json::{Map, Value};

    use super::OperationFacts;

    fn resolve<'a>(spec: &'a Value, mut schema: &'a Value) -> &'a Value {
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.rsplit('/').next().unwrap_or_default();
            schema = &spec["components"]["schemas"][name];
        }
        schema
    }

    fn properties<'a>(spec: &'a Value, schema: &'a Value) -> Map<String, Value> {
        let schema = resolve(spec, schema);
        let mut found = Map::new();
        for combinator in ["allOf", "anyOf", "oneOf"] {
            for part in schema[combinator].as_array().into_iter().flatten() {
                found.extend(properties(spec, part));
            }
        }
        if let Some(own) = schema["properties"].as_object() {
            found.extend(own.clone());
        }
        found
    }

    fn items<'a>(spec: &'a Value, schema: &'a Value) -> Option<&'a Value> {
        let schema = resolve(spec, schema);
        if let Some(items) = schema.get("items") {
            return Some(items);
        }
        ["allOf", "anyOf", "oneOf"]
            .iter()
            .flat_map(|combinator| schema[*combinator].as_array().into_iter().flatten())
            .find_map(|part| items(spec, part))
    }

    fn attributes(spec: &Value, operation: &Value) -> Vec<String> {
        let mut responses: Vec<(&String, &Value)> = operation["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .collect();
        responses.sort_by_key(|(status, _)| *status);
        for (status, response) in responses {
            if !status.starts_with('2') {
                continue;
            }
            for media in response["content"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|m| m.1)
            {
                let body = properties(spec, &media["schema"]);
                if let Some(data) = body.get("data") {
                    let resource = items(spec, data).unwrap_or(data);
                    if let Some(attributes) = properties(spec, resource).get("attributes") {
                        return properties(spec, attributes).keys().cloned().collect();
                    }
                }
                if !body.is_empty() {
                    return body.keys().cloned().collect();
                }
            }
        }
        Vec::new()
    }

    pub(super) fn of(spec: &Value) -> Vec<OperationFacts> {
        let server = spec["servers"][0]["url"]
            .as_str()
            .filter(|url| !url.starts_with('{'))
            .unwrap_or_default()
            .trim_end_matches('/');
        let mut operations = Vec::new();
        for (path, item) in spec["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                    continue;
                }
                let mut query: Vec<String> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|parameter| resolve(spec, parameter))
                    .filter(|parameter| parameter["in"] == "query")
                    .filter_map(|parameter| parameter["name"].as_str().map(str::to_owned))
                    .collect();
                query.sort();
                let mut attributes = attributes(spec, operation);
                attributes.sort();
                operations.push(OperationFacts {
                    path: format!("{server}{path}"),
                    method: method.clone(),
                    operation_id: operation["operationId"].as_str().map(str::to_owned),
                    query,
                    attributes,
                });
            }
        }
        operations.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
        operations
    }
}

#[derive(serde::Deserialize)]
struct MasFacts {
    operations: Vec<OperationFacts>,
}

/// MAS 1.22's operations, as `scripts/mas-admin-facts.py` extracted them from its
/// `docs/api/spec.json`, compared with ours: every one of its operations exists here with its
/// operationId, query parameters and attribute names, so clients generated from either spec
/// call the same methods. Gatehouse's additions are the allow-lists above.
#[test]
fn admin_api_matches_mas() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mas-admin-v1.22.json");
    let mas: MasFacts = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(mas.operations.len() >= 47, "the facts file lost operations");
    let spec: Value = serde_json::from_str(&gatehouse::http::admin::spec_json()).unwrap();
    let ours = facts::of(&spec);
    let mut differences = Vec::new();
    for theirs in &mas.operations {
        let what = format!("{} {}", theirs.method, theirs.path);
        let Some(ours) = ours
            .iter()
            .find(|o| o.path == theirs.path && o.method == theirs.method)
        else {
            differences.push(format!("{what}: missing"));
            continue;
        };
        if ours.operation_id != theirs.operation_id {
            differences.push(format!(
                "{what}: operationId {:?}, MAS has {:?}",
                ours.operation_id, theirs.operation_id
            ));
        }
        let compare = |kind: &str, ours: &[String], theirs: &[String], allowed: &[&str]| {
            let mut found = Vec::new();
            for name in theirs.iter().filter(|name| !ours.contains(name)) {
                found.push(format!("{what}: no {kind} {name}"));
            }
            for name in ours.iter().filter(|name| !theirs.contains(name)) {
                if !allowed.contains(&name.as_str()) {
                    found.push(format!("{what}: {kind} {name} is not in MAS (nor allowed)"));
                }
            }
            found
        };
        let allowed = |list: &[(&str, &'static str, &'static str)]| -> Vec<&'static str> {
            list.iter()
                .filter(|(method, path, _)| *method == theirs.method && *path == theirs.path)
                .map(|(_, _, name)| *name)
                .collect()
        };
        differences.extend(compare(
            "query parameter",
            &ours.query,
            &theirs.query,
            &allowed(GATEHOUSE_ONLY_QUERY),
        ));
        differences.extend(compare(
            "attribute",
            &ours.attributes,
            &theirs.attributes,
            &allowed(GATEHOUSE_ONLY_ATTRIBUTES),
        ));
    }
    for ours in &ours {
        let in_mas = mas
            .operations
            .iter()
            .any(|o| o.path == ours.path && o.method == ours.method);
        let allowed = GATEHOUSE_ONLY_OPERATIONS
            .iter()
            .any(|(method, path)| *method == ours.method && *path == ours.path);
        if !in_mas && !allowed {
            differences.push(format!(
                "{} {}: not in MAS (nor allowed)",
                ours.method, ours.path
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "the admin API differs from MAS 1.22's: {differences:#?}"
    );
}

/// The Rust extraction above reads MAS's document as the script does: the checked-in facts
/// are what it finds in a spec of MAS's shape (a resource under `data.attributes`, lists of
/// them, a plain body).
#[test]
fn facts_extraction_reads_resource_documents() {
    let spec = serde_json::json!({
        "servers": [{"url": "/api"}],
        "paths": {
            "/things": {"get": {
                "operationId": "listThings",
                "parameters": [{"in": "query", "name": "page[first]"}, {"in": "path", "name": "x"}],
                "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/List"}}}}}
            }},
            "/info": {"get": {
                "operationId": "info",
                "responses": {"200": {"content": {"application/json": {"schema": {"properties": {"b": {}, "a": {}}}}}}}
            }}
        },
        "components": {"schemas": {
            "List": {"properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}},
            "Thing": {"properties": {"attributes": {"allOf": [{"$ref": "#/components/schemas/Attrs"}]}}},
            "Attrs": {"properties": {"name": {}, "created_at": {}}}
        }}
    });
    let found = facts::of(&spec);
    assert_eq!(found.len(), 2);
    assert_eq!(found[1].path, "/api/things");
    assert_eq!(found[1].query, ["page[first]"]);
    assert_eq!(found[1].attributes, ["created_at", "name"]);
    assert_eq!(found[0].attributes, ["a", "b"]);
}

//! The admin REST API (`/api/admin/v1`, the `adminapi` resource): MAS's operations and shapes,
//! described by OpenAPI (poem-openapi), plus Gatehouse's additions. One file per operation,
//! under a folder per resource, so an endpoint is found by its path.

pub mod auth;
pub(crate) mod compat_sessions;
mod devices;
pub mod error;
mod example;
mod oauth2_clients;
mod oauth2_sessions;
pub mod pagination;
mod personal_sessions;
mod policy_data;
mod site_config;
mod upstream_oauth_links;
mod upstream_oauth_providers;
mod user_emails;
mod user_registration_tokens;
mod user_sessions;
pub mod users;
mod version;

use std::collections::HashMap;

use poem::{
    EndpointExt, IntoEndpoint, Route,
    endpoint::BoxEndpoint,
    http::{Method, header},
};
use poem_openapi::{
    OpenApi, OpenApiService, Tags,
    registry::{MetaApi, MetaPath, Registry},
};

/// Where the API is mounted; links in answers start with it.
pub const BASE_PATH: &str = "/api/admin/v1";

/// Groups of operations in the spec.
#[derive(Tags)]
pub enum AdminTag {
    /// Server information.
    Server,
    /// User accounts.
    User,
    /// Users' email addresses.
    UserEmail,
    /// Sessions from the legacy Matrix login (devices).
    CompatSession,
    /// A user's Matrix devices (beyond MAS).
    Device,
    /// OAuth 2.0 clients.
    OAuth2Client,
    /// OAuth 2.0 sessions (grants of clients).
    OAuth2Session,
    /// Browser sessions on Gatehouse's own pages.
    UserSession,
    /// Personal sessions: long-lived tokens for scripts and admin tooling.
    PersonalSession,
    /// The data the policy rules read, set at run time over `policy.data`.
    PolicyData,
    /// Codes that let people register when registration needs one.
    UserRegistrationToken,
    /// Upstream OAuth 2.0 / OIDC providers (from the configuration).
    UpstreamOAuthProvider,
    /// Links between upstream accounts and users.
    UpstreamOAuthLink,
}

fn apis() -> impl OpenApi {
    MergedPaths((
        (site_config::Api, version::Api),
        users::apis(),
        user_emails::apis(),
        compat_sessions::apis(),
        devices::apis(),
        oauth2_clients::apis(),
        oauth2_sessions::apis(),
        user_sessions::apis(),
        personal_sessions::apis(),
        (user_registration_tokens::apis(), policy_data::apis()),
        (
            upstream_oauth_providers::apis(),
            upstream_oauth_links::apis(),
        ),
    ))
}

/// One path item per path. With one `#[OpenApi]` struct per operation, `GET /users` and
/// `POST /users` come from two structs, and poem-openapi would write the path twice (a JSON
/// object with a duplicate key, of which readers keep only the last).
struct MergedPaths<T>(T);

impl<T: OpenApi> OpenApi for MergedPaths<T> {
    fn meta() -> Vec<MetaApi> {
        let mut paths: Vec<MetaPath> = Vec::new();
        for path in T::meta().into_iter().flat_map(|api| api.paths) {
            match paths.iter_mut().find(|known| known.path == path.path) {
                Some(known) => known.operations.extend(path.operations),
                None => paths.push(path),
            }
        }
        vec![MetaApi { paths }]
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn add_routes(self, route_table: &mut HashMap<String, HashMap<Method, BoxEndpoint<'static>>>) {
        self.0.add_routes(route_table);
    }
}

/// The OpenAPI service, independent of any configuration (so the spec can be checked in).
pub fn service() -> OpenApiService<impl OpenApi, ()> {
    OpenApiService::new(apis(), "Gatehouse admin API", env!("CARGO_PKG_VERSION"))
        .description(
            "Manage the users, sessions and tokens of a Gatehouse (Matrix authentication service) \
             deployment. The operations and shapes follow the Matrix Authentication Service admin \
             API; every call needs `Authorization: Bearer <token>` with a token that carries the \
             `urn:mas:admin` scope.",
        )
        .server(BASE_PATH)
}

/// The OpenAPI document as served at `/api/spec.json` and checked in at
/// `openapi/admin-v1.json`.
pub fn spec_json() -> String {
    let mut spec: serde_json::Value =
        serde_json::from_str(&service().spec()).unwrap_or(serde_json::Value::Null);
    mark_nullable(&mut spec);
    let mut json = serde_json::to_string_pretty(&spec).unwrap_or_default();
    json.push('\n');
    json
}

/// Answers carry optional attributes as `null` (`"locked_at": null`, as MAS does), which an
/// OpenAPI 3.0 schema must declare with `nullable`; poem-openapi only marks them not required.
fn mark_nullable(spec: &mut serde_json::Value) {
    let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(|schemas| schemas.as_object_mut())
    else {
        return;
    };
    for schema in schemas.values_mut() {
        let required: Vec<String> = schema["required"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|name| name.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let Some(properties) = schema
            .get_mut("properties")
            .and_then(|properties| properties.as_object_mut())
        else {
            continue;
        };
        for (name, property) in properties.iter_mut() {
            // `nullable` beside a `$ref` is ignored in 3.0; those fields are left out when empty.
            if !required.contains(name) && property.get("$ref").is_none() {
                property["nullable"] = serde_json::Value::Bool(true);
            }
        }
    }
}

/// `/api/admin/v1/…`, `/api/spec.json` and `/api/doc/` (Swagger UI), to nest under `/api`.
pub fn routes() -> Route {
    let service = service();
    let ui = service.swagger_ui();
    let spec = poem::endpoint::make_sync(|_| {
        poem::IntoResponse::with_content_type(spec_json(), "application/json")
    });
    let api = service
        .into_endpoint()
        // Several operations take an optional JSON body (MAS's shapes); a bodiless POST
        // without a content type means "no body", not a 400.
        .before(|mut req: poem::Request| async move {
            if !req.headers().contains_key(header::CONTENT_TYPE) {
                req.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
            }
            Ok(req)
        })
        .catch_all_error(|error: poem::Error| async move {
            if error.is_from_response() {
                error.into_response()
            } else {
                error::AdminError::from_poem(&error)
            }
        });
    Route::new()
        .nest("/admin/v1", api)
        .at("/spec.json", spec)
        .nest("/doc", ui)
}

//! The `discovery` resource: `/.well-known/openid-configuration` (RFC 8414 / OIDC Discovery).
//! Synapse fetches it for `/_matrix/client/v1/auth_metadata` and needs `issuer` and
//! `account_management_uri`. It lists only the endpoints this build serves.

use poem::{
    Route, get, handler,
    web::{Data, Json},
};
use serde_json::{Value, json};

use super::AppState;

pub fn mount(route: Route) -> Route {
    route.at(
        "/.well-known/openid-configuration",
        get(openid_configuration),
    )
}

#[handler]
async fn openid_configuration(Data(state): Data<&AppState>) -> Json<Value> {
    let url = |path: &str| state.public_url(path);
    let signing_algorithms = state.keystore.algorithms();
    Json(json!({
        "issuer": state.config.http.issuer().as_str(),
        "jwks_uri": url("oauth2/keys.json"),
        "introspection_endpoint": url("oauth2/introspect"),
        "registration_endpoint": url("oauth2/registration"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "account_management_uri": url("account/"),
        "account_management_actions_supported": [
            "org.matrix.profile",
            "org.matrix.sessions_list",
            "org.matrix.session_view",
            "org.matrix.session_end",
            "org.matrix.devices_list",
            "org.matrix.device_view",
            "org.matrix.device_delete",
            "org.matrix.cross_signing_reset"
        ],
        "scopes_supported": ["openid", "email"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": signing_algorithms,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    }))
}

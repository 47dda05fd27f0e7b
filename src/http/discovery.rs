//! The `discovery` resource: `/.well-known/openid-configuration` (RFC 8414 / OIDC Discovery).
//! Synapse fetches it for `/_matrix/client/v1/auth_metadata` and needs `issuer` and
//! `account_management_uri`; matrix-rust-sdk then needs the authorization, token and
//! revocation endpoints, `code` among the response types, both `query` and `fragment` among
//! the response modes and `S256` among the PKCE methods. It lists only what this build serves.

use poem::{
    Route, get, handler,
    web::{Data, Json},
};
use serde_json::{Value, json};

use super::{AppState, oauth::token::DEVICE_CODE_GRANT};
use crate::domain::oauth2_clients::TokenEndpointAuthMethod;

pub fn mount(route: Route) -> Route {
    route.at(
        "/.well-known/openid-configuration",
        get(openid_configuration),
    )
}

/// JWS algorithms accepted in `client_secret_jwt` and `private_key_jwt` assertions.
const CLIENT_ASSERTION_ALGORITHMS: [&str; 12] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "ES256K",
];

#[handler]
async fn openid_configuration(Data(state): Data<&AppState>) -> Json<Value> {
    let url = |path: &str| state.public_url(path);
    let signing_algorithms = state.keystore.algorithms();
    let auth_methods: Vec<&str> = TokenEndpointAuthMethod::ALL
        .iter()
        .map(|method| method.as_str())
        .collect();
    let device_grant = state.config.oauth.device_code_grant_enabled;
    let mut grant_types = vec!["authorization_code", "refresh_token", "client_credentials"];
    if device_grant {
        grant_types.push(DEVICE_CODE_GRANT);
    }
    let mut metadata = json!({
        "issuer": state.config.http.issuer().as_str(),
        "authorization_endpoint": url("authorize"),
        "token_endpoint": url("oauth2/token"),
        "jwks_uri": url("oauth2/keys.json"),
        "registration_endpoint": url("oauth2/registration"),
        "revocation_endpoint": url("oauth2/revoke"),
        "introspection_endpoint": url("oauth2/introspect"),
        "userinfo_endpoint": url("oauth2/userinfo"),
        "scopes_supported": ["openid", "email"],
        "response_types_supported": ["code", "code id_token"],
        "response_modes_supported": ["form_post", "query", "fragment"],
        "grant_types_supported": grant_types,
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": CLIENT_ASSERTION_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": CLIENT_ASSERTION_ALGORITHMS,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": CLIENT_ASSERTION_ALGORITHMS,
        "code_challenge_methods_supported": ["plain", "S256"],
        // `create` joins when the registration pages exist.
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "display_values_supported": ["page"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": signing_algorithms,
        "claim_types_supported": ["normal"],
        "claims_supported": [
            "iss", "sub", "aud", "iat", "exp", "nonce", "auth_time", "at_hash", "c_hash", "sid",
            "email", "email_verified"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "account_management_uri": url("account/"),
        "account_management_actions_supported": [
            "org.matrix.profile",
            "org.matrix.devices_list",
            "org.matrix.device_view",
            "org.matrix.device_delete",
            "org.matrix.account_deactivate",
            "org.matrix.cross_signing_reset",
            "org.matrix.sessions_list",
            "org.matrix.session_view",
            "org.matrix.session_end"
        ],
    });
    // `oauth.device_code_grant_enabled: false` turns the endpoint off: it is not advertised.
    if device_grant {
        metadata["device_authorization_endpoint"] = json!(url("oauth2/device"));
    }
    Json(metadata)
}

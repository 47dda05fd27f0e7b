//! `GET /oauth2/keys.json`: the public signing keys (JWKS).

use poem::{
    handler,
    web::{Data, Json},
};

use crate::http::AppState;

#[handler]
pub async fn jwks(Data(state): Data<&AppState>) -> Json<serde_json::Value> {
    Json(state.keystore.jwks())
}

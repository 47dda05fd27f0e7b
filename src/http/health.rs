//! `GET /health` (the `health` resource): `ok` when the database answers, 503 otherwise.

use poem::{handler, http::StatusCode, web::Data};

use super::AppState;

#[handler]
pub async fn health(Data(state): Data<&AppState>) -> (StatusCode, &'static str) {
    match sqlx::query("SELECT 1").execute(state.store.pool()).await {
        Ok(_) => (StatusCode::OK, "ok"),
        Err(error) => {
            tracing::error!(%error, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}

//! `GET /users/export.csv` (beyond MAS): every user as CSV.

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi};

use super::import::Csv;
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{AdminError, OpError},
        },
    },
    services::users_csv,
};

#[derive(Debug, ApiResponse)]
pub enum Exported {
    /// One line per user after the header `username,created_at,admin,locked,deactivated,guest,emails,password_hash,password_version`;
    /// emails are `;`-separated, booleans `true`/`false`.
    #[oai(status = 200)]
    Csv(Csv),
}

pub struct Api;

#[OpenApi(tag = "AdminTag::User")]
impl Api {
    /// Export users as CSV
    ///
    /// Every user, oldest first, with its emails and current password hash (and the scheme
    /// version of that hash), in the format `POST /users/import` reads back.
    #[oai(
        path = "/users/export.csv",
        method = "get",
        operation_id = "exportUsersCsv"
    )]
    async fn export(&self, state: Data<&AppState>, _auth: AdminAuth) -> Result<Exported, OpError> {
        let mut out = Vec::new();
        // Nothing the caller sent can make writing fail: every error is ours.
        users_csv::export_users(&state.store, &mut out, |_, _| {})
            .await
            .map_err(|error| AdminError::internal(&error))?;
        let text = String::from_utf8(out).map_err(|error| AdminError::internal(&error))?;
        Ok(Exported::Csv(Csv(text)))
    }
}

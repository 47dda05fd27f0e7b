//! `POST /users/import` (beyond MAS): create users from CSV, with a result per row.

use poem::web::Data;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{
    ApiRequest, Enum, Object, OpenApi,
    payload::{Json, ParsePayload, Payload},
    registry::MetaSchemaRef,
    types::Type,
};

use super::export_csv::csv_error;
use crate::{
    http::{
        AppState,
        admin::{AdminTag, auth::AdminAuth, error::AdminError},
    },
    users_csv::{self, ImportStatus},
};

/// A `text/csv` body.
#[derive(Debug, Clone)]
pub struct Csv(pub String);

impl Payload for Csv {
    const CONTENT_TYPE: &'static str = "text/csv";

    fn check_content_type(content_type: &str) -> bool {
        // `text/csv`, with parameters (`; charset=utf-8`) or not.
        content_type
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/csv"))
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }
}

impl ParsePayload for Csv {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(String::from_request(request, body).await?))
    }
}

#[derive(Debug, ApiRequest)]
pub enum ImportBody {
    /// A header line naming the columns (`username` and optionally `password`, `password_hash`,
    /// `password_version`, `emails` (`;`-separated), `admin`), then one user per line.
    Csv(Csv),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RowStatus {
    Created,
    /// The username is taken; the existing user is left alone.
    Skipped,
    Error,
}

/// What happened to one row.
#[derive(Debug, Clone, Object)]
pub struct ImportRow {
    /// The row number (1 is the first line after the header).
    pub row: u64,
    pub username: String,
    pub status: RowStatus,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
}

/// The per-row report and its totals.
#[derive(Debug, Clone, Object)]
pub struct ImportReport {
    pub created: u64,
    pub skipped: u64,
    pub errors: u64,
    pub rows: Vec<ImportRow>,
}

pub struct Api;

#[OpenApi(tag = "AdminTag::User")]
impl Api {
    /// Import users from CSV
    ///
    /// Creates one user per row, each in its own transaction: a taken username is skipped and
    /// a bad row reported, without stopping the others. A row gives a `password` (hashed with
    /// the current scheme) or a `password_hash` with its `password_version`; an export from
    /// `GET /users/export.csv` imports as it is. A CSV without a `username` column is a 400.
    #[oai(path = "/users/import", method = "post", operation_id = "importUsers")]
    async fn import(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        body: ImportBody,
    ) -> Result<Json<ImportReport>, AdminError> {
        let ImportBody::Csv(Csv(text)) = body;
        let results = users_csv::import_users(
            &state.store,
            state.clock.as_ref(),
            &state.passwords,
            text.as_bytes(),
            |_| {},
        )
        .await
        .map_err(csv_error)?;
        let summary = users_csv::ImportSummary::of(&results);
        Ok(Json(ImportReport {
            created: summary.created,
            skipped: summary.skipped,
            errors: summary.errors,
            rows: results
                .into_iter()
                .map(|result| ImportRow {
                    row: result.row,
                    username: result.username,
                    status: match result.status {
                        ImportStatus::Created => RowStatus::Created,
                        ImportStatus::Skipped => RowStatus::Skipped,
                        ImportStatus::Error => RowStatus::Error,
                    },
                    reason: result.reason,
                })
                .collect(),
        }))
    }
}

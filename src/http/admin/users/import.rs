//! `POST /users/import` (beyond MAS): create users from CSV, with a result per row.

use poem::web::Data;
use poem::{FromRequest, IntoResponse, Request, RequestBody, Response};
use poem_openapi::{
    ApiRequest, Enum, Object, OpenApi,
    payload::{Json, ParsePayload, Payload},
    registry::{MetaSchema, MetaSchemaRef},
};

use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{AdminError, BAD_REQUEST, OpError, UNSUPPORTED_MEDIA_TYPE},
        },
    },
    services::users_csv::{self, CsvError, ImportStatus},
};

/// A `text/csv` body: what this operation reads and `GET /users/export.csv` answers.
#[derive(Debug, Clone)]
pub struct Csv(pub String);

/// Two users as exported (`bob` without a password), which import as they are.
const EXAMPLE: &str = "\
username,created_at,admin,locked,deactivated,guest,emails,password_hash,password_version
alice,2024-11-28T09:14:05+00:00,false,false,false,false,alice@example.com,\"$argon2id$v=19$m=19456,t=2,p=1$W+h7f5tSnKx4cKUGLgJz7Q$eBaGJoJGG9mnZAEn8PGbxw+Fyn1jq/efPUokmst4kfc\",1
bob,2024-12-02T16:40:12+00:00,false,false,false,false,bob@example.com;bob@work.example.com,,
";

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
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            example: Some(EXAMPLE.into()),
            ..MetaSchema::new("string")
        }))
    }
}

impl ParsePayload for Csv {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(String::from_request(request, body).await?))
    }
}

impl IntoResponse for Csv {
    fn into_response(self) -> Response {
        self.0.with_content_type(Self::CONTENT_TYPE).into_response()
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
#[oai(example)]
pub struct ImportReport {
    pub created: u64,
    pub skipped: u64,
    pub errors: u64,
    pub rows: Vec<ImportRow>,
}

impl poem_openapi::types::Example for ImportReport {
    /// What importing the CSV example into a server that has `bob` answers.
    fn example() -> Self {
        let row = |row, username: &str, status, reason: Option<&str>| ImportRow {
            row,
            username: username.to_owned(),
            status,
            reason: reason.map(str::to_owned),
        };
        Self {
            created: 1,
            skipped: 1,
            errors: 0,
            rows: vec![
                row(1, "alice", RowStatus::Created, None),
                row(
                    2,
                    "bob",
                    RowStatus::Skipped,
                    Some("the username is already taken"),
                ),
            ],
        }
    }
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
    ) -> Result<Json<ImportReport>, OpError<{ BAD_REQUEST | UNSUPPORTED_MEDIA_TYPE }>> {
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

fn csv_error(error: CsvError) -> AdminError {
    match error {
        CsvError::Store(error) => error.into(),
        CsvError::Io(error) => AdminError::internal(&error),
        other => AdminError::bad_request(other.to_string()),
    }
}

//! Users as CSV, shared by the admin API (`GET /users/export.csv`, `POST /users/import`) and the
//! CLI (`manage export-users`, `manage import-users`).
//!
//! Export columns: `username, created_at, admin, locked, deactivated, guest, emails,
//! password_hash, password_version` (emails `;`-separated). Import reads `username` (required),
//! `password` or `password_hash` + `password_version`, `emails` and `admin`, in any order; other
//! columns (such as the rest of an export) are ignored, so an export imports as it is.

use std::io::{Read, Write};

use crate::{
    crypto::passwords::PasswordHasher,
    domain::{Clock, users::User},
    services::accounts::{self, AccountError, Registration},
    store::{Store, StoreError, pagination::Pagination, users::UserFilter},
};

/// The columns of an export, in order.
pub const EXPORT_COLUMNS: [&str; 9] = [
    "username",
    "created_at",
    "admin",
    "locked",
    "deactivated",
    "guest",
    "emails",
    "password_hash",
    "password_version",
];

/// Users read per page while exporting.
const EXPORT_PAGE: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("the CSV has no {0:?} column")]
    MissingColumn(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP's "CSV injection").
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A field as exported: one that a spreadsheet would run as a formula (a username may start
/// with `=`, `+` or `-`) gets a leading `'`, which spreadsheets show as text. [`field`] takes it
/// off again on import, so an export still imports as it is.
fn spreadsheet_safe(value: &str) -> String {
    if value.starts_with(FORMULA_STARTS) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// Write every user (oldest first) to `out`; `progress(done, total)` after each user. Answers
/// how many were written.
pub async fn export_users<W: Write>(
    store: &Store,
    out: W,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, CsvError> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(EXPORT_COLUMNS)?;
    let mut reader = store.reader().await?;
    let total = reader.users().count().await?;
    let filter = UserFilter::default();
    let mut after = None;
    let mut done = 0;
    loop {
        let mut pagination = Pagination::first(EXPORT_PAGE);
        pagination.after = after;
        let page = reader.users().list(&filter, &pagination).await?;
        for user in &page.edges {
            let emails: Vec<String> = reader
                .emails()
                .list_for_user(user.id)
                .await?
                .into_iter()
                .map(|email| email.email)
                .collect();
            let password = reader.passwords().active(user.id).await?;
            let (hash, version) = match password {
                Some(password) => (password.hashed_password, password.version.to_string()),
                None => (String::new(), String::new()),
            };
            writer.write_record(
                [
                    user.username.as_str(),
                    &user.created_at.to_rfc3339(),
                    yes_no(user.can_request_admin),
                    yes_no(user.locked_at.is_some()),
                    yes_no(user.deactivated_at.is_some()),
                    yes_no(user.is_guest),
                    &emails.join(";"),
                    &hash,
                    &version,
                ]
                .map(spreadsheet_safe),
            )?;
            done += 1;
            progress(done, total.max(done));
        }
        after = page.edges.last().map(|user: &User| user.id);
        if !page.has_next_page {
            break;
        }
    }
    writer.flush()?;
    Ok(done)
}

/// What happened to one imported row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportStatus {
    Created,
    /// The username is taken: the existing user is left alone.
    Skipped,
    Error,
}

/// The result of one row (`row` 1 is the first line after the header).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportResult {
    pub row: u64,
    pub username: String,
    pub status: ImportStatus,
    pub reason: Option<String>,
}

/// Totals of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: u64,
    pub skipped: u64,
    pub errors: u64,
}

impl ImportSummary {
    pub fn of(results: &[ImportResult]) -> Self {
        let mut summary = Self::default();
        for result in results {
            match result.status {
                ImportStatus::Created => summary.created += 1,
                ImportStatus::Skipped => summary.skipped += 1,
                ImportStatus::Error => summary.errors += 1,
            }
        }
        summary
    }
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} skipped, {} failed",
            self.created, self.skipped, self.errors
        )
    }
}

struct Columns {
    username: usize,
    password: Option<usize>,
    password_hash: Option<usize>,
    password_version: Option<usize>,
    emails: Option<usize>,
    admin: Option<usize>,
}

impl Columns {
    fn of(headers: &csv::StringRecord) -> Result<Self, CsvError> {
        let find = |name: &str| headers.iter().position(|header| header.trim() == name);
        Ok(Self {
            username: find("username").ok_or(CsvError::MissingColumn("username"))?,
            password: find("password"),
            password_hash: find("password_hash"),
            password_version: find("password_version"),
            emails: find("emails"),
            admin: find("admin"),
        })
    }
}

fn field(record: &csv::StringRecord, column: Option<usize>) -> &str {
    let value = column
        .and_then(|column| record.get(column))
        .map(str::trim)
        .unwrap_or_default();
    // Undo `spreadsheet_safe`.
    match value.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => value,
    }
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" => Ok(false),
        "true" | "1" | "yes" => Ok(true),
        other => Err(format!("admin must be true or false, not {other:?}")),
    }
}

/// Read users from `input` and create them, row by row (each in its own transaction). A taken
/// username is skipped; a bad row is reported and the others go on. `progress` sees each result.
/// Fails as a whole only on a missing `username` column or an unreadable CSV.
pub async fn import_users<R: Read>(
    store: &Store,
    clock: &dyn Clock,
    passwords: &PasswordHasher,
    input: R,
    mut progress: impl FnMut(&ImportResult),
) -> Result<Vec<ImportResult>, CsvError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let columns = Columns::of(reader.headers()?)?;
    let mut results = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let row = index as u64 + 1;
        let result = match record {
            Ok(record) => import_row(store, clock, passwords, &columns, &record, row).await?,
            Err(error) => ImportResult {
                row,
                username: String::new(),
                status: ImportStatus::Error,
                reason: Some(error.to_string()),
            },
        };
        progress(&result);
        results.push(result);
    }
    Ok(results)
}

async fn import_row(
    store: &Store,
    clock: &dyn Clock,
    passwords: &PasswordHasher,
    columns: &Columns,
    record: &csv::StringRecord,
    row: u64,
) -> Result<ImportResult, CsvError> {
    let username = field(record, Some(columns.username)).to_owned();
    let result = |status, reason: Option<String>| ImportResult {
        row,
        username: username.clone(),
        status,
        reason,
    };
    let password = field(record, columns.password);
    let hash = field(record, columns.password_hash);
    let version = field(record, columns.password_version);
    let emails: Vec<String> = field(record, columns.emails)
        .split(';')
        .map(str::trim)
        .filter(|email| !email.is_empty())
        .map(str::to_owned)
        .collect();
    let admin = match parse_bool(field(record, columns.admin)) {
        Ok(admin) => admin,
        Err(reason) => return Ok(result(ImportStatus::Error, Some(reason))),
    };
    let hashed = match (password.is_empty(), hash.is_empty(), version.is_empty()) {
        (_, false, false) if !password.is_empty() => {
            return Ok(result(
                ImportStatus::Error,
                Some("give a password or a password_hash, not both".to_owned()),
            ));
        }
        (_, true, true) => None,
        (true, false, false) => match version.parse::<u16>() {
            // A hash that would not verify (malformed, or asking for absurd work) would make
            // every later sign-in of this user fail: refuse it now, with the reason.
            Ok(version) => match passwords.check_hash(version, hash) {
                Ok(()) => Some((version, hash.to_owned())),
                Err(error) => {
                    return Ok(result(
                        ImportStatus::Error,
                        Some(format!("password_hash: {error}")),
                    ));
                }
            },
            Err(_) => {
                return Ok(result(
                    ImportStatus::Error,
                    Some(format!(
                        "password_version {version:?} is not a configured scheme version"
                    )),
                ));
            }
        },
        _ => {
            return Ok(result(
                ImportStatus::Error,
                Some("password_hash and password_version go together".to_owned()),
            ));
        }
    };
    let hashed = match (hashed, password.is_empty()) {
        (Some(hashed), _) => Some(hashed),
        (None, true) => None,
        (None, false) => match passwords.hash(password).await {
            Ok(hashed) => Some(hashed),
            Err(error) => return Ok(result(ImportStatus::Error, Some(error.to_string()))),
        },
    };
    let registration = Registration {
        username: username.clone(),
        emails,
        admin,
        ..Registration::default()
    };
    match accounts::register_user_with_hash(store, clock, registration, hashed).await {
        Ok(_) => Ok(result(ImportStatus::Created, None)),
        Err(AccountError::UsernameTaken(_)) => Ok(result(
            ImportStatus::Skipped,
            Some("the username is already taken".to_owned()),
        )),
        Err(AccountError::Store(error)) => Err(error.into()),
        Err(error) => Ok(result(ImportStatus::Error, Some(error.to_string()))),
    }
}

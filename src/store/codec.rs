//! Conversions between domain values and the portable column types: ULIDs as TEXT, timestamps as
//! BIGINT unix milliseconds, booleans as INTEGER 0/1.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::StoreError;

pub(crate) fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn opt_ms(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(ms)
}

pub(crate) fn flag(value: bool) -> i64 {
    i64::from(value)
}

pub(crate) fn get_ulid(row: &AnyRow, column: &'static str) -> Result<Ulid, StoreError> {
    let text: String = row.try_get(column)?;
    Ulid::from_string(&text).map_err(|e| StoreError::Corrupt {
        column,
        detail: e.to_string(),
    })
}

pub(crate) fn get_opt_ulid(row: &AnyRow, column: &'static str) -> Result<Option<Ulid>, StoreError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| {
        Ulid::from_string(&text).map_err(|e| StoreError::Corrupt {
            column,
            detail: e.to_string(),
        })
    })
    .transpose()
}

pub(crate) fn get_time(row: &AnyRow, column: &'static str) -> Result<DateTime<Utc>, StoreError> {
    let millis: i64 = row.try_get(column)?;
    from_ms(column, millis)
}

pub(crate) fn get_opt_time(
    row: &AnyRow,
    column: &'static str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let millis: Option<i64> = row.try_get(column)?;
    millis.map(|m| from_ms(column, m)).transpose()
}

pub(crate) fn get_flag(row: &AnyRow, column: &'static str) -> Result<bool, StoreError> {
    let value: i64 = row.try_get(column)?;
    Ok(value != 0)
}

fn from_ms(column: &'static str, millis: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(millis).ok_or(StoreError::Corrupt {
        column,
        detail: format!("{millis} is not a valid timestamp"),
    })
}

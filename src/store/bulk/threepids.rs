//! Third-party ids: emails as rows of `user_emails`, any other medium (a phone number, say) as
//! rows of `user_unsupported_third_party_ids`.

use gatehouse_importer::{EmailRecord, UnsupportedThreepidRecord};

use super::{Cell, Rows};

pub(super) fn emails(batch: &[EmailRecord]) -> Rows<'_, 4> {
    Rows {
        table: "user_emails",
        columns: ["user_email_id", "user_id", "email", "created_at"],
        rows: batch
            .iter()
            .map(|e| {
                [
                    Cell::Id(e.id),
                    Cell::Id(e.user_id),
                    Cell::Text(&e.address),
                    Cell::Int(e.created_at_ms),
                ]
            })
            .collect(),
    }
}

pub(super) fn unsupported(batch: &[UnsupportedThreepidRecord]) -> Rows<'_, 4> {
    Rows {
        table: "user_unsupported_third_party_ids",
        columns: ["user_id", "medium", "address", "created_at"],
        rows: batch
            .iter()
            .map(|t| {
                [
                    Cell::Id(t.user_id),
                    Cell::Text(&t.medium),
                    Cell::Text(&t.address),
                    Cell::Int(t.created_at_ms),
                ]
            })
            .collect(),
    }
}

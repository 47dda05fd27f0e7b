//! Users and their passwords, as rows of `users` and `user_passwords`.

use gatehouse_importer::UserRecord;

use super::{Cell, Rows};

pub(super) fn users(batch: &[UserRecord]) -> Rows<'_, 7> {
    Rows {
        table: "users",
        columns: [
            "user_id",
            "username",
            "created_at",
            "locked_at",
            "deactivated_at",
            "can_request_admin",
            "is_guest",
        ],
        rows: batch
            .iter()
            .map(|u| {
                [
                    Cell::Id(u.id),
                    Cell::Text(&u.localpart),
                    Cell::Int(u.created_at_ms),
                    Cell::OptInt(u.locked_at_ms),
                    Cell::OptInt(u.deactivated_at_ms),
                    Cell::Int4(i32::from(u.admin)),
                    Cell::Int4(i32::from(u.is_guest)),
                ]
            })
            .collect(),
    }
}

/// The users of `batch` that have a password, one row each.
pub(super) fn passwords(batch: &[UserRecord]) -> Rows<'_, 5> {
    Rows {
        table: "user_passwords",
        columns: [
            "user_password_id",
            "user_id",
            "hashed_password",
            "version",
            "created_at",
        ],
        rows: batch
            .iter()
            .filter_map(|u| {
                let password = u.password.as_ref()?;
                Some([
                    Cell::Id(password.id),
                    Cell::Id(u.id),
                    Cell::Text(&password.hash),
                    // Synapse's bcrypt hashes are scheme version 1 (checked by `syn2mas check`).
                    Cell::Int4(1),
                    Cell::Int(u.created_at_ms),
                ])
            })
            .collect(),
    }
}

//! Devices as rows of `compat_sessions`, and their tokens as rows of `compat_access_tokens`
//! and `compat_refresh_tokens`, each token stored as its SHA-256 digest only.

use gatehouse_importer::{AccessTokenRecord, CompatSessionRecord, RefreshTokenRecord};

use super::{Cell, Rows};

pub(super) fn sessions(batch: &[CompatSessionRecord]) -> Rows<'_, 9> {
    Rows {
        table: "compat_sessions",
        columns: [
            "compat_session_id",
            "user_id",
            "device_id",
            "human_name",
            "created_at",
            "is_synapse_admin",
            "last_active_at",
            "last_active_ip",
            "user_agent",
        ],
        rows: batch
            .iter()
            .map(|s| {
                [
                    Cell::Id(s.id),
                    Cell::Id(s.user_id),
                    Cell::OptText(s.device_id.as_deref()),
                    Cell::OptText(s.display_name.as_deref()),
                    Cell::Int(s.created_at_ms),
                    Cell::Int4(i32::from(s.is_synapse_admin)),
                    Cell::OptInt(s.last_active_at_ms),
                    Cell::OptText(s.last_active_ip.as_deref()),
                    Cell::OptText(s.user_agent.as_deref()),
                ]
            })
            .collect(),
    }
}

pub(super) fn access_tokens(batch: &[AccessTokenRecord]) -> Rows<'_, 5> {
    Rows {
        table: "compat_access_tokens",
        columns: [
            "compat_access_token_id",
            "compat_session_id",
            "access_token_sha256",
            "created_at",
            "expires_at",
        ],
        rows: batch
            .iter()
            .map(|t| {
                [
                    Cell::Id(t.id),
                    Cell::Id(t.session_id),
                    Cell::Digest(crate::crypto::sha256(&t.token)),
                    Cell::Int(t.created_at_ms),
                    Cell::OptInt(t.expires_at_ms),
                ]
            })
            .collect(),
    }
}

pub(super) fn refresh_tokens(batch: &[RefreshTokenRecord]) -> Rows<'_, 5> {
    Rows {
        table: "compat_refresh_tokens",
        columns: [
            "compat_refresh_token_id",
            "compat_session_id",
            "compat_access_token_id",
            "refresh_token_sha256",
            "created_at",
        ],
        rows: batch
            .iter()
            .map(|t| {
                [
                    Cell::Id(t.id),
                    Cell::Id(t.session_id),
                    Cell::Id(t.access_token_id),
                    Cell::Digest(crate::crypto::sha256(&t.token)),
                    Cell::Int(t.created_at_ms),
                ]
            })
            .collect(),
    }
}

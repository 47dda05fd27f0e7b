//! Synapse's external ids, as rows of `upstream_oauth_links`.

use gatehouse_importer::UpstreamLinkRecord;

use super::{Cell, Rows};

pub(super) fn links(batch: &[UpstreamLinkRecord]) -> Rows<'_, 5> {
    Rows {
        table: "upstream_oauth_links",
        columns: [
            "upstream_oauth_link_id",
            "upstream_oauth_provider_id",
            "user_id",
            "subject",
            "created_at",
        ],
        rows: batch
            .iter()
            .map(|l| {
                [
                    Cell::Id(l.id),
                    Cell::Id(l.provider_id),
                    Cell::Id(l.user_id),
                    Cell::Text(&l.subject),
                    Cell::Int(l.created_at_ms),
                ]
            })
            .collect(),
    }
}

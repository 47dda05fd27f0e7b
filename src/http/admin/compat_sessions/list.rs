//! `GET /compat-sessions`: list compatibility sessions.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Enum, OpenApi, param::Query, payload::Json};

use super::{CompatSessionList, CompatSessionResource};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{BAD_REQUEST, OpError},
            pagination::{CountMode, Linker, PageParams},
            users::parse_id,
        },
    },
    store::{compat::CompatSessionFilter, pagination::SessionTimes},
};

/// `filter[status]` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SessionStatus {
    Active,
    Finished,
}

impl SessionStatus {
    /// The value as it is written in a query string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Finished => "finished",
        }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::CompatSession")]
impl Api {
    /// List compatibility sessions
    #[oai(
        path = "/compat-sessions",
        method = "get",
        operation_id = "listCompatSessions"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// Page size, from the start of the range.
        #[oai(
            name = "page[first]",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        first: Query<Option<u32>>,
        /// Page size, from the end of the range.
        #[oai(
            name = "page[last]",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        last: Query<Option<u32>>,
        /// Only items before this cursor.
        #[oai(
            name = "page[before]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        before: Query<Option<String>>,
        /// Only items after this cursor.
        #[oai(
            name = "page[after]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        after: Query<Option<String>>,
        /// Include the total count (`true`, the default), leave it out (`false`), or answer it alone (`only`).
        count: Query<Option<CountMode>>,
        /// Only sessions of this user (its ID).
        #[oai(
            name = "filter[user]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        user: Query<Option<String>>,
        /// Only sessions made from this browser session.
        #[oai(
            name = "filter[user-session]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        user_session: Query<Option<String>>,
        /// Only active or only finished sessions.
        #[oai(name = "filter[status]")]
        status: Query<Option<SessionStatus>>,
        /// Only sessions created strictly after this time (RFC 3339).
        #[oai(name = "filter[created-after]")]
        created_after: Query<Option<DateTime<Utc>>>,
        /// Only sessions created strictly before this time (RFC 3339).
        #[oai(name = "filter[created-before]")]
        created_before: Query<Option<DateTime<Utc>>>,
        /// Only sessions last active strictly after this time (RFC 3339).
        #[oai(name = "filter[last-active-after]")]
        last_active_after: Query<Option<DateTime<Utc>>>,
        /// Only sessions last active strictly before this time (RFC 3339; never-used sessions
        /// are left out).
        #[oai(name = "filter[last-active-before]")]
        last_active_before: Query<Option<DateTime<Utc>>>,
    ) -> Result<Json<CompatSessionList>, OpError<{ BAD_REQUEST }>> {
        let params = PageParams {
            first: first.0,
            last: last.0,
            before: before.0,
            after: after.0,
            count: count.0,
        };
        let pagination = params.pagination()?;
        let times = SessionTimes {
            created_after: created_after.0,
            created_before: created_before.0,
            last_active_after: last_active_after.0,
            last_active_before: last_active_before.0,
        };
        let user = user
            .0
            .as_deref()
            .map(|id| parse_id("User", id))
            .transpose()?;
        let user_session = user_session
            .0
            .as_deref()
            .map(|id| parse_id("User session", id))
            .transpose()?;
        let filter = CompatSessionFilter {
            user,
            user_session,
            active: status.0.map(|status| status == SessionStatus::Active),
            times,
        };
        let linker = Linker::new("/compat-sessions")
            .filter("filter[user]", user)
            .filter("filter[user-session]", user_session)
            .filter("filter[status]", status.0.map(SessionStatus::as_str))
            .session_times(&times);
        let (page, count) = params
            .read(
                &state.store,
                async |reader| reader.compat().list_sessions(&filter, &pagination).await,
                async |reader| reader.compat().count_sessions(&filter).await,
            )
            .await?;
        let page = page.map(|page| page.map(CompatSessionResource::from));
        Ok(CompatSessionList::new(&linker, &params, page, count))
    }
}

//! `GET /user-sessions`: list browser sessions.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{OpenApi, param::Query, payload::Json};

use super::{UserSessionList, UserSessionResource};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            compat_sessions::SessionStatus,
            error::{BAD_REQUEST, OpError},
            pagination::{CountMode, Linker, PageParams},
            users::parse_id,
        },
    },
    store::{browser_sessions::UserSessionFilter, pagination::SessionTimes},
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UserSession")]
impl Api {
    /// List user sessions
    #[oai(
        path = "/user-sessions",
        method = "get",
        operation_id = "listUserSessions"
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
        /// Only active or only finished sessions.
        #[oai(name = "filter[status]")]
        status: Query<Option<SessionStatus>>,
        /// Only sessions created before this instant.
        #[oai(name = "filter[created-before]")]
        created_before: Query<Option<DateTime<Utc>>>,
        /// Only sessions created after this instant.
        #[oai(name = "filter[created-after]")]
        created_after: Query<Option<DateTime<Utc>>>,
        /// Only sessions last active before this instant.
        #[oai(name = "filter[last-active-before]")]
        last_active_before: Query<Option<DateTime<Utc>>>,
        /// Only sessions last active after this instant.
        #[oai(name = "filter[last-active-after]")]
        last_active_after: Query<Option<DateTime<Utc>>>,
    ) -> Result<Json<UserSessionList>, OpError<{ BAD_REQUEST }>> {
        let params = PageParams {
            first: first.0,
            last: last.0,
            before: before.0,
            after: after.0,
            count: count.0,
        };
        let pagination = params.pagination()?;
        let user = user
            .0
            .as_deref()
            .map(|id| parse_id("User", id))
            .transpose()?;
        let times = SessionTimes {
            created_after: created_after.0,
            created_before: created_before.0,
            last_active_after: last_active_after.0,
            last_active_before: last_active_before.0,
        };
        let filter = UserSessionFilter {
            user,
            active: status.0.map(|status| status == SessionStatus::Active),
            times,
        };
        let linker = Linker::new("/user-sessions")
            .filter("filter[user]", user)
            .filter("filter[status]", status.0.map(SessionStatus::as_str))
            .session_times(&times);
        let (page, count) = params
            .read(
                &state.store,
                async |reader| reader.browser_sessions().list(&filter, &pagination).await,
                async |reader| reader.browser_sessions().count(&filter).await,
            )
            .await?;
        let page = page.map(|page| page.map(UserSessionResource::from));
        Ok(UserSessionList::new(&linker, &params, page, count))
    }
}

//! `GET /oauth2-sessions`: list OAuth 2.0 sessions.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{OpenApi, param::Query, payload::Json};

use super::{OAuth2SessionList, OAuth2SessionResource};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            compat_sessions::SessionStatus,
            error::{BAD_REQUEST, OpError},
            oauth2_clients::ClientKind,
            pagination::{CountMode, Linker, PageParams},
            users::parse_id,
        },
    },
    store::{oauth2_sessions::OAuth2SessionFilter, pagination::SessionTimes},
};

pub struct Api;

#[OpenApi(tag = "AdminTag::OAuth2Session")]
impl Api {
    /// List OAuth 2.0 sessions
    #[oai(
        path = "/oauth2-sessions",
        method = "get",
        operation_id = "listOAuth2Sessions"
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
        /// Only sessions of this client (its ID).
        #[oai(
            name = "filter[client]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        client: Query<Option<String>>,
        /// Only sessions of static (configured) or dynamic (registered) clients.
        #[oai(name = "filter[client-kind]")]
        client_kind: Query<Option<ClientKind>>,
        /// Only sessions granted from this browser session.
        #[oai(
            name = "filter[user-session]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        user_session: Query<Option<String>>,
        /// Only sessions whose scope includes this scope token.
        #[oai(name = "filter[scope]", validator(min_length = 1))]
        scope: Query<Option<String>>,
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
    ) -> Result<Json<OAuth2SessionList>, OpError<{ BAD_REQUEST }>> {
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
        let id = |what: &str, value: &Option<String>| {
            value.as_deref().map(|id| parse_id(what, id)).transpose()
        };
        let user = id("User", &user.0)?;
        let client = id("OAuth 2.0 client", &client.0)?;
        let user_session = id("User session", &user_session.0)?;
        let filter = OAuth2SessionFilter {
            user,
            client,
            static_client: client_kind.0.map(|kind| kind == ClientKind::Static),
            user_session,
            scope: scope.0.clone(),
            active: status.0.map(|status| status == SessionStatus::Active),
            times,
        };
        let linker = Linker::new("/oauth2-sessions")
            .filter("filter[user]", user)
            .filter("filter[client]", client)
            .filter("filter[client-kind]", client_kind.0.map(ClientKind::as_str))
            .filter("filter[user-session]", user_session)
            .filter("filter[scope]", scope.0)
            .filter("filter[status]", status.0.map(SessionStatus::as_str))
            .session_times(&times);
        let (page, count) = params
            .read(
                &state.store,
                async |reader| reader.oauth2_sessions().list(&filter, &pagination).await,
                async |reader| reader.oauth2_sessions().count(&filter).await,
            )
            .await?;
        let page = page.map(|page| page.map(OAuth2SessionResource::from));
        Ok(OAuth2SessionList::new(&linker, &params, page, count))
    }
}

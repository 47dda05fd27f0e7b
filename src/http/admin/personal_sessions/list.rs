//! `GET /personal-sessions`: list personal sessions.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Enum, OpenApi, param::Query, payload::Json};

use super::{PersonalSessionList, PersonalSessionResource};
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
    store::personal::PersonalSessionFilter,
};

/// `filter[status]` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum PersonalSessionStatus {
    Active,
    Revoked,
}

pub struct Api;

#[OpenApi(tag = "AdminTag::PersonalSession")]
impl Api {
    /// List personal sessions
    #[oai(
        path = "/personal-sessions",
        method = "get",
        operation_id = "listPersonalSessions"
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
        /// Only sessions created by this user (its ID).
        #[oai(
            name = "filter[owner_user]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        owner_user: Query<Option<String>>,
        /// Only sessions created by this OAuth client (its ID).
        #[oai(
            name = "filter[owner_client]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        owner_client: Query<Option<String>>,
        /// Only sessions acting as this user (its ID).
        #[oai(
            name = "filter[actor_user]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        actor_user: Query<Option<String>>,
        /// Only sessions whose scope includes this scope token.
        #[oai(name = "filter[scope]", validator(min_length = 1))]
        scope: Query<Option<String>>,
        /// Only active or only revoked sessions.
        #[oai(name = "filter[status]")]
        status: Query<Option<PersonalSessionStatus>>,
        /// Only sessions whose token expires before this instant.
        #[oai(name = "filter[expires_before]")]
        expires_before: Query<Option<DateTime<Utc>>>,
        /// Only sessions whose token expires after this instant.
        #[oai(name = "filter[expires_after]")]
        expires_after: Query<Option<DateTime<Utc>>>,
        /// Only sessions whose token expires (`true`) or never does (`false`).
        #[oai(name = "filter[expires]")]
        expires: Query<Option<bool>>,
    ) -> Result<Json<PersonalSessionList>, OpError<{ BAD_REQUEST }>> {
        let params = PageParams {
            first: first.0,
            last: last.0,
            before: before.0,
            after: after.0,
            count: count.0,
        };
        let pagination = params.pagination()?;
        let id = |what: &str, value: &Option<String>| {
            value.as_deref().map(|id| parse_id(what, id)).transpose()
        };
        let owner_user = id("User", &owner_user.0)?;
        let owner_client = id("OAuth client", &owner_client.0)?;
        let actor_user = id("User", &actor_user.0)?;
        let filter = PersonalSessionFilter {
            owner_user,
            owner_client,
            actor_user,
            scope: scope.0.clone(),
            active: status
                .0
                .map(|status| status == PersonalSessionStatus::Active),
            expires_before: expires_before.0,
            expires_after: expires_after.0,
            expires: expires.0,
        };
        let linker = Linker::new("/personal-sessions")
            .filter("filter[owner_user]", owner_user)
            .filter("filter[owner_client]", owner_client)
            .filter("filter[actor_user]", actor_user)
            .filter("filter[scope]", scope.0)
            .filter(
                "filter[status]",
                status.0.map(|status| match status {
                    PersonalSessionStatus::Active => "active",
                    PersonalSessionStatus::Revoked => "revoked",
                }),
            )
            .filter(
                "filter[expires_before]",
                expires_before.0.map(|at| at.to_rfc3339()),
            )
            .filter(
                "filter[expires_after]",
                expires_after.0.map(|at| at.to_rfc3339()),
            )
            .filter("filter[expires]", expires.0);
        let (page, count) = params
            .read(
                &state.store,
                async |reader| reader.personal().list_sessions(&filter, &pagination).await,
                async |reader| reader.personal().count_sessions(&filter).await,
            )
            .await?;
        let page = page.map(|page| page.map(PersonalSessionResource::from));
        Ok(PersonalSessionList::new(&linker, &params, page, count))
    }
}

//! `GET /users`: list users, with filters and cursor pagination.

use poem::web::Data;
use poem_openapi::{Enum, OpenApi, param::Query, payload::Json};

use super::{UserList, UserResource};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{BAD_REQUEST, OpError},
            pagination::{CountMode, Linker, PageParams},
        },
    },
    store::users::{UserFilter, UserStatus},
};

/// `filter[status]` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum UserStatusParam {
    /// Neither locked nor deactivated.
    Active,
    /// Locked.
    Locked,
    /// Deactivated.
    Deactivated,
}

impl UserStatusParam {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Locked => "locked",
            Self::Deactivated => "deactivated",
        }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::User")]
impl Api {
    /// List users
    ///
    /// Users in creation order, 10 per page unless `page[first]` or `page[last]` says otherwise.
    /// Go forward with `page[after]` (the last item's cursor) and backward with `page[before]`.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
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
        /// Only users who may (`true`) or may not (`false`) request admin scopes.
        #[oai(name = "filter[admin]")]
        admin: Query<Option<bool>>,
        /// Only guest accounts carried over from Synapse (`true`) or only regular users (`false`).
        #[oai(name = "filter[legacy-guest]")]
        legacy_guest: Query<Option<bool>>,
        /// Only users whose username contains this text.
        #[oai(name = "filter[search]", validator(min_length = 1, max_length = 255))]
        search: Query<Option<String>>,
        /// Only users in this state.
        #[oai(name = "filter[status]")]
        status: Query<Option<UserStatusParam>>,
        /// Only users with (`true`) or without (`false`) an active compatibility session.
        #[oai(name = "filter[has-active-compat-session]")]
        has_active_compat_session: Query<Option<bool>>,
        /// Only users with (`true`) or without (`false`) an active OAuth 2.0 session.
        #[oai(name = "filter[has-active-oauth2-session]")]
        has_active_oauth2_session: Query<Option<bool>>,
        /// Only users with an active OAuth 2.0 session of this client.
        #[oai(
            name = "filter[active-oauth2-client]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        active_oauth2_client: Query<Option<String>>,
    ) -> Result<Json<UserList>, OpError<{ BAD_REQUEST }>> {
        let params = PageParams {
            first: first.0,
            last: last.0,
            before: before.0,
            after: after.0,
            count: count.0,
        };
        let pagination = params.pagination()?;
        let client = active_oauth2_client
            .0
            .as_deref()
            .map(|id| super::parse_id("Client", id))
            .transpose()?;
        let filter = UserFilter {
            admin: admin.0,
            legacy_guest: legacy_guest.0,
            search: search.0.clone(),
            status: status.0.map(|status| match status {
                UserStatusParam::Active => UserStatus::Active,
                UserStatusParam::Locked => UserStatus::Locked,
                UserStatusParam::Deactivated => UserStatus::Deactivated,
            }),
            has_active_compat_session: has_active_compat_session.0,
            has_active_oauth2_session: has_active_oauth2_session.0,
            active_oauth2_client: client,
        };
        let linker = Linker::new("/users")
            .filter("filter[admin]", admin.0)
            .filter("filter[legacy-guest]", legacy_guest.0)
            .filter("filter[search]", search.0.as_deref())
            .filter("filter[status]", status.0.map(UserStatusParam::as_str))
            .filter(
                "filter[has-active-compat-session]",
                has_active_compat_session.0,
            )
            .filter(
                "filter[has-active-oauth2-session]",
                has_active_oauth2_session.0,
            )
            .filter("filter[active-oauth2-client]", client);
        let (page, count) = params
            .read(
                &state.store,
                async |reader| reader.users().list(&filter, &pagination).await,
                async |reader| reader.users().count_filtered(&filter).await,
            )
            .await?;
        let page = page.map(|page| page.map(UserResource::from));
        Ok(UserList::new(&linker, &params, page, count))
    }
}

//! `GET /user-emails`: list addresses, by user or by address.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Query, payload::Json};

use super::{UserEmailList, UserEmailResource};
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
    store::emails::EmailFilter,
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UserEmail")]
impl Api {
    /// List user emails
    #[oai(path = "/user-emails", method = "get", operation_id = "listUserEmails")]
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
        /// Only addresses of this user (its ID).
        #[oai(
            name = "filter[user]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        user: Query<Option<String>>,
        /// Only this address (compared without case).
        #[oai(name = "filter[email]", validator(min_length = 1, max_length = 254))]
        email: Query<Option<String>>,
    ) -> Result<Json<UserEmailList>, OpError<{ BAD_REQUEST }>> {
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
        let filter = EmailFilter {
            user,
            email: email.0.clone(),
        };
        let linker = Linker::new("/user-emails")
            .filter("filter[user]", user)
            .filter("filter[email]", email.0.as_deref());
        let (page, count) = params
            .read(
                &state.store,
                async |reader| reader.emails().list(&filter, &pagination).await,
                async |reader| reader.emails().count_filtered(&filter).await,
            )
            .await?;
        let page = page.map(|page| page.map(UserEmailResource::from));
        Ok(UserEmailList::new(&linker, &params, page, count))
    }
}

//! `GET /upstream-oauth-links`: list links, by user, provider, subject or account name.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Query, payload::Json};

use super::{UpstreamOAuthLinkList, UpstreamOAuthLinkResource};
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
    store::upstream::UpstreamLinkFilter,
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UpstreamOAuthLink")]
impl Api {
    /// List upstream OAuth links
    #[oai(
        path = "/upstream-oauth-links",
        method = "get",
        operation_id = "listUpstreamOAuthLinks"
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
        /// Only links of this user (its ID).
        #[oai(
            name = "filter[user]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        user: Query<Option<String>>,
        /// Only links to this provider (its ID).
        #[oai(
            name = "filter[provider]",
            validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
        )]
        provider: Query<Option<String>>,
        /// Only links with this subject.
        #[oai(name = "filter[subject]", validator(min_length = 1, max_length = 255))]
        subject: Query<Option<String>>,
        /// Only links with this account name.
        #[oai(
            name = "filter[human-account-name]",
            validator(min_length = 1, max_length = 255)
        )]
        human_account_name: Query<Option<String>>,
    ) -> Result<Json<UpstreamOAuthLinkList>, OpError<{ BAD_REQUEST }>> {
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
        let provider = provider
            .0
            .as_deref()
            .map(|id| parse_id("Upstream OAuth provider", id))
            .transpose()?;
        let filter = UpstreamLinkFilter {
            user,
            provider,
            subject: subject.0.clone(),
            human_account_name: human_account_name.0.clone(),
        };
        let linker = Linker::new("/upstream-oauth-links")
            .filter("filter[user]", user)
            .filter("filter[provider]", provider)
            .filter("filter[subject]", subject.0.as_deref())
            .filter(
                "filter[human-account-name]",
                human_account_name.0.as_deref(),
            );
        let (page, count) = params
            .read(
                &state.store,
                async |reader| reader.upstream().page_links(&filter, &pagination).await,
                async |reader| reader.upstream().count_links(&filter).await,
            )
            .await?;
        let page = page.map(|page| page.map(UpstreamOAuthLinkResource::from));
        Ok(UpstreamOAuthLinkList::new(&linker, &params, page, count))
    }
}

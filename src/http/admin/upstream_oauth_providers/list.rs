//! `GET /upstream-oauth-providers`: list upstream providers.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Query, payload::Json};

use super::{UpstreamOAuthProviderList, UpstreamOAuthProviderResource};
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
    store::upstream::UpstreamProviderFilter,
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UpstreamOAuthProvider")]
impl Api {
    /// List upstream OAuth providers
    #[oai(
        path = "/upstream-oauth-providers",
        method = "get",
        operation_id = "listUpstreamOAuthProviders"
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
        /// Only enabled (`true`) or disabled (`false`) providers.
        #[oai(name = "filter[enabled]")]
        enabled: Query<Option<bool>>,
    ) -> Result<Json<UpstreamOAuthProviderList>, OpError<{ BAD_REQUEST }>> {
        let params = PageParams {
            first: first.0,
            last: last.0,
            before: before.0,
            after: after.0,
            count: count.0,
        };
        let pagination = params.pagination()?;
        let filter = UpstreamProviderFilter { enabled: enabled.0 };
        let linker = Linker::new("/upstream-oauth-providers").filter("filter[enabled]", enabled.0);
        let (page, count) = params
            .read(
                &state.store,
                async |reader| reader.upstream().page_providers(&filter, &pagination).await,
                async |reader| reader.upstream().count_providers(&filter).await,
            )
            .await?;
        let page = page.map(|page| page.map(UpstreamOAuthProviderResource::from));
        Ok(UpstreamOAuthProviderList::new(
            &linker, &params, page, count,
        ))
    }
}

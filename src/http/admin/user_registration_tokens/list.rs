//! `GET /user-registration-tokens`: list registration tokens.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Query, payload::Json};

use super::{RegistrationTokenList, RegistrationTokenResource};
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
    store::registration_tokens::RegistrationTokenFilter,
};

pub struct Api;

#[OpenApi(tag = "AdminTag::UserRegistrationToken")]
impl Api {
    /// List registration tokens
    #[oai(
        path = "/user-registration-tokens",
        method = "get",
        operation_id = "listUserRegistrationTokens"
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
        /// Only tokens used at least once (`true`) or never used (`false`).
        #[oai(name = "filter[used]")]
        used: Query<Option<bool>>,
        /// Only revoked (`true`) or unrevoked (`false`) tokens.
        #[oai(name = "filter[revoked]")]
        revoked: Query<Option<bool>>,
        /// Only expired (`true`) or unexpired (`false`) tokens.
        #[oai(name = "filter[expired]")]
        expired: Query<Option<bool>>,
        /// Only tokens that would (`true`) or would not (`false`) accept a registration now.
        #[oai(name = "filter[valid]")]
        valid: Query<Option<bool>>,
    ) -> Result<Json<RegistrationTokenList>, OpError<{ BAD_REQUEST }>> {
        let params = PageParams {
            first: first.0,
            last: last.0,
            before: before.0,
            after: after.0,
            count: count.0,
        };
        let pagination = params.pagination()?;
        let now = state.clock.now();
        let filter = RegistrationTokenFilter {
            used: used.0,
            revoked: revoked.0,
            expired: expired.0,
            valid: valid.0,
            ..RegistrationTokenFilter::new(now)
        };
        let linker = Linker::new("/user-registration-tokens")
            .filter("filter[used]", used.0)
            .filter("filter[revoked]", revoked.0)
            .filter("filter[expired]", expired.0)
            .filter("filter[valid]", valid.0);
        let (page, count) = params
            .read(
                &state.store,
                async |reader| {
                    reader
                        .registration_tokens()
                        .list(&filter, &pagination)
                        .await
                },
                async |reader| reader.registration_tokens().count(&filter).await,
            )
            .await?;
        let page = page.map(|page| page.map(|token| RegistrationTokenResource::at(token, now)));
        Ok(RegistrationTokenList::new(&linker, &params, page, count))
    }
}

//! `POST /users/{id}/set-password`: replace a user's password.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::user_by_id;
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{BAD_REQUEST, NOT_FOUND, OpError, UNPROCESSABLE, UNSUPPORTED_MEDIA_TYPE},
        },
    },
    services::accounts,
};

/// The new password.
#[derive(Clone, Object)]
#[oai(example)]
pub struct SetPasswordRequest {
    #[oai(validator(min_length = 1, max_length = 1024))]
    pub password: String,
    /// Accept a password below `passwords.minimum_complexity`.
    #[oai(default)]
    pub skip_password_check: bool,
}

impl std::fmt::Debug for SetPasswordRequest {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetPasswordRequest")
            .field("password", &crate::domain::redact::Redacted)
            .field("skip_password_check", &self.skip_password_check)
            .finish()
    }
}

impl poem_openapi::types::Example for SetPasswordRequest {
    fn example() -> Self {
        Self {
            password: "correct horse battery staple".to_owned(),
            skip_password_check: false,
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum PasswordSet {
    /// The password was replaced.
    #[oai(status = 204)]
    NoContent,
}

pub struct Api;

#[OpenApi(tag = "AdminTag::User")]
impl Api {
    /// Set the password of a user
    ///
    /// A password below the configured complexity is a 422 unless `skip_password_check` is true.
    #[oai(
        path = "/users/:id/set-password",
        method = "post",
        operation_id = "setUserPassword"
    )]
    async fn set_password(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The user's ID.
        #[oai(validator(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"))]
        id: Path<String>,
        body: Json<SetPasswordRequest>,
    ) -> Result<
        PasswordSet,
        OpError<{ BAD_REQUEST | NOT_FOUND | UNSUPPORTED_MEDIA_TYPE | UNPROCESSABLE }>,
    > {
        let user = user_by_id(&mut state.store.reader().await?, &id).await?;
        accounts::set_password(
            &state.store,
            state.clock.as_ref(),
            &state.passwords,
            &user,
            &body.password,
            !body.skip_password_check,
        )
        .await?;
        Ok(PasswordSet::NoContent)
    }
}

//! `POST /user-registration-tokens`: a new registration token.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{RegistrationTokenResource, SingleRegistrationToken};
use crate::{
    http::{
        AppState,
        admin::{
            AdminTag,
            auth::AdminAuth,
            error::{BAD_REQUEST, CONFLICT, OpError, UNSUPPORTED_MEDIA_TYPE},
            example,
        },
    },
    services::accounts,
};

/// A new registration token.
#[derive(Clone, Object)]
#[oai(example)]
pub struct CreateRegistrationTokenRequest {
    /// The code (letters, digits and `._~-`, at most 64); 20 random characters when left out.
    #[oai(validator(pattern = "^[A-Za-z0-9._~-]{1,64}$"))]
    pub token: Option<String>,
    /// How many registrations it allows (none: unlimited).
    pub usage_limit: Option<u32>,
    /// When it stops working (none: never).
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for CreateRegistrationTokenRequest {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateRegistrationTokenRequest")
            .field("token", &crate::domain::redact::RedactedOption(&self.token))
            .field("usage_limit", &self.usage_limit)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl poem_openapi::types::Example for CreateRegistrationTokenRequest {
    fn example() -> Self {
        Self {
            token: Some("spring-2025-invite".to_owned()),
            usage_limit: Some(10),
            expires_at: Some(example::time("2025-03-31T23:59:59Z")),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The token was created.
    #[oai(status = 201)]
    Created(Json<SingleRegistrationToken>),
}

pub struct Api;

#[OpenApi(tag = "AdminTag::UserRegistrationToken")]
impl Api {
    /// Create a registration token
    ///
    /// A token that already exists is a 409.
    #[oai(
        path = "/user-registration-tokens",
        method = "post",
        operation_id = "addUserRegistrationToken"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        body: Json<CreateRegistrationTokenRequest>,
    ) -> Result<Created, OpError<{ BAD_REQUEST | CONFLICT | UNSUPPORTED_MEDIA_TYPE }>> {
        let body = body.0;
        let token = accounts::create_registration_token(
            &state.store,
            state.clock.as_ref(),
            &mut state.random.rng(),
            body.token,
            body.usage_limit,
            body.expires_at,
        )
        .await?;
        Ok(Created::Created(
            RegistrationTokenResource::at(token, state.clock.now()).single(),
        ))
    }
}

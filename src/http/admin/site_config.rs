//! `GET /site-config`: the server name and what users may do, from the configuration.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json};

use super::{AdminTag, auth::AdminAuth, error::OpError};
use crate::http::AppState;

/// The server's name and feature flags.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct SiteConfig {
    /// The homeserver's `server_name`.
    pub server_name: String,
    pub password_login_enabled: bool,
    pub password_registration_enabled: bool,
    pub password_registration_email_required: bool,
    pub password_registration_token_required: bool,
    /// Same as `password_registration_token_required` (the older name).
    pub registration_token_required: bool,
    pub email_change_allowed: bool,
    pub displayname_change_allowed: bool,
    pub password_change_allowed: bool,
    pub account_recovery_allowed: bool,
    pub account_deactivation_allowed: bool,
    pub captcha_enabled: bool,
    /// zxcvbn score (0–4) a new password must reach.
    pub minimum_password_complexity: u8,
}

impl poem_openapi::types::Example for SiteConfig {
    fn example() -> Self {
        Self {
            server_name: "example.com".to_owned(),
            password_login_enabled: true,
            password_registration_enabled: true,
            password_registration_email_required: true,
            password_registration_token_required: false,
            registration_token_required: false,
            email_change_allowed: true,
            displayname_change_allowed: true,
            password_change_allowed: true,
            account_recovery_allowed: false,
            account_deactivation_allowed: true,
            captcha_enabled: false,
            minimum_password_complexity: 3,
        }
    }
}

pub struct Api;

#[OpenApi(tag = "AdminTag::Server")]
impl Api {
    /// Get the site configuration
    ///
    /// What the configuration allows users to do, as the web pages and clients see it.
    #[oai(path = "/site-config", method = "get", operation_id = "siteConfig")]
    async fn site_config(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
    ) -> Result<Json<SiteConfig>, OpError> {
        let config = &state.config;
        let account = &config.account;
        let token_required = account.token_required_for_registration();
        Ok(Json(SiteConfig {
            server_name: config.matrix.homeserver.clone(),
            password_login_enabled: config.passwords.enabled,
            password_registration_enabled: config.passwords.enabled
                && account.password_registration_enabled,
            password_registration_email_required: account.password_registration_email_required,
            password_registration_token_required: token_required,
            registration_token_required: token_required,
            email_change_allowed: account.email_change_allowed,
            displayname_change_allowed: account.displayname_change_allowed,
            password_change_allowed: config.passwords.enabled && account.password_change_allowed,
            account_recovery_allowed: account.password_recovery_enabled,
            account_deactivation_allowed: account.account_deactivation_allowed,
            captcha_enabled: config.captcha.service.is_some(),
            minimum_password_complexity: config.passwords.minimum_complexity,
        }))
    }
}

//! The `account` section: what users may do with their own account (all booleans).

use serde::{Deserialize, Serialize};

use super::util::is_false;

/// `account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountConfig {
    pub email_change_allowed: bool,
    pub displayname_change_allowed: bool,
    pub password_registration_enabled: bool,
    pub password_registration_email_required: bool,
    pub password_registration_token_required: bool,
    /// Deprecated alias of `password_registration_token_required`; see
    /// [`AccountConfig::token_required_for_registration`]. Left out of dumps when false.
    #[serde(skip_serializing_if = "is_false")]
    pub registration_token_required: bool,
    pub password_change_allowed: bool,
    pub password_recovery_enabled: bool,
    pub account_deactivation_allowed: bool,
    /// Allow logging in with an email address instead of a username (web login only).
    pub login_with_email_allowed: bool,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self {
            email_change_allowed: true,
            displayname_change_allowed: true,
            password_registration_enabled: false,
            password_registration_email_required: true,
            password_registration_token_required: false,
            registration_token_required: false,
            password_change_allowed: true,
            password_recovery_enabled: false,
            account_deactivation_allowed: true,
            login_with_email_allowed: false,
        }
    }
}

impl AccountConfig {
    /// Whether password registration needs a registration token, honouring the deprecated
    /// alias.
    pub fn token_required_for_registration(&self) -> bool {
        self.password_registration_token_required || self.registration_token_required
    }
}

//! The smaller sections: `rate_limiting`, `branding`, `captcha`, `oauth` and `experimental`.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use super::ConfigError;
use super::util::Redacted;

/// One token-bucket limiter: up to `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimiterConfig {
    pub burst: u32,
    pub per_second: f64,
}

impl RateLimiterConfig {
    const fn new(burst: u32, per_second: f64) -> Self {
        Self { burst, per_second }
    }

    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.burst == 0 {
            return Err(ConfigError::invalid(
                format!("{path}.burst"),
                "must be at least 1",
            ));
        }
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err(ConfigError::invalid(
                format!("{path}.per_second"),
                "must be a positive number",
            ));
        }
        Ok(())
    }
}

/// `rate_limiting`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitingConfig {
    pub account_recovery: AccountRecoveryRateLimit,
    pub login: LoginRateLimit,
    pub registration: RateLimiterConfig,
    pub email_authentication: EmailAuthenticationRateLimit,
    /// Gatehouse's own: `GET /login/sso/redirect` per client address. Each request stores a
    /// pending SSO login, so unauthenticated clients must not make them without bound.
    pub compat_sso_redirect: RateLimiterConfig,
    /// Dynamic client registration (`POST /oauth2/registration`) per IP. Not in MAS, which does
    /// not limit it; each registration can add a row.
    pub client_registration: RateLimiterConfig,
    /// Gatehouse's own: user codes typed on `/link`. Codes are short enough to guess, so
    /// guessing is limited per client address and per signed-in user.
    pub device_code_entry: DeviceCodeEntryRateLimit,
    /// Gatehouse's own: device authorizations (`POST /oauth2/device`) per client address. Each
    /// stores a grant, and public clients start them without a secret.
    pub device_authorization: RateLimiterConfig,
}

impl Default for RateLimitingConfig {
    fn default() -> Self {
        Self {
            account_recovery: AccountRecoveryRateLimit::default(),
            login: LoginRateLimit::default(),
            registration: RateLimiterConfig::new(3, 0.0008),
            email_authentication: EmailAuthenticationRateLimit::default(),
            compat_sso_redirect: RateLimiterConfig::new(30, 0.1),
            // Ten at once, then one a minute: clients register once per sign-in.
            client_registration: RateLimiterConfig::new(10, 1.0 / 60.0),
            device_code_entry: DeviceCodeEntryRateLimit::default(),
            // Ten at once, then one every ten seconds: a device asks once per sign-in.
            device_authorization: RateLimiterConfig::new(10, 0.1),
        }
    }
}

/// `rate_limiting.device_code_entry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceCodeEntryRateLimit {
    pub per_ip: RateLimiterConfig,
    pub per_user: RateLimiterConfig,
}

impl Default for DeviceCodeEntryRateLimit {
    fn default() -> Self {
        // Ten tries at once, then one every ten seconds: a person mistyping gets through, while
        // guessing one of 20^8 codes within their 20 minutes stays hopeless.
        Self {
            per_ip: RateLimiterConfig::new(10, 0.1),
            per_user: RateLimiterConfig::new(10, 0.1),
        }
    }
}

/// `rate_limiting.account_recovery`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountRecoveryRateLimit {
    pub per_ip: RateLimiterConfig,
    pub per_address: RateLimiterConfig,
}

impl Default for AccountRecoveryRateLimit {
    fn default() -> Self {
        Self {
            per_ip: RateLimiterConfig::new(3, 0.0008),
            per_address: RateLimiterConfig::new(3, 0.0002),
        }
    }
}

/// `rate_limiting.login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginRateLimit {
    pub per_ip: RateLimiterConfig,
    pub per_account: RateLimiterConfig,
}

impl Default for LoginRateLimit {
    fn default() -> Self {
        Self {
            per_ip: RateLimiterConfig::new(3, 0.05),
            per_account: RateLimiterConfig::new(1800, 0.5),
        }
    }
}

/// `rate_limiting.email_authentication`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailAuthenticationRateLimit {
    pub per_ip: RateLimiterConfig,
    pub per_address: RateLimiterConfig,
    pub emails_per_session: RateLimiterConfig,
    pub attempt_per_session: RateLimiterConfig,
}

impl Default for EmailAuthenticationRateLimit {
    fn default() -> Self {
        Self {
            per_ip: RateLimiterConfig::new(5, 0.016666),
            per_address: RateLimiterConfig::new(3, 0.000277),
            emails_per_session: RateLimiterConfig::new(2, 0.003333),
            attempt_per_session: RateLimiterConfig::new(10, 0.016666),
        }
    }
}

impl RateLimitingConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let limiters = [
            (
                "rate_limiting.account_recovery.per_ip",
                &self.account_recovery.per_ip,
            ),
            (
                "rate_limiting.account_recovery.per_address",
                &self.account_recovery.per_address,
            ),
            ("rate_limiting.login.per_ip", &self.login.per_ip),
            ("rate_limiting.login.per_account", &self.login.per_account),
            ("rate_limiting.registration", &self.registration),
            (
                "rate_limiting.client_registration",
                &self.client_registration,
            ),
            (
                "rate_limiting.email_authentication.per_ip",
                &self.email_authentication.per_ip,
            ),
            (
                "rate_limiting.email_authentication.per_address",
                &self.email_authentication.per_address,
            ),
            (
                "rate_limiting.email_authentication.emails_per_session",
                &self.email_authentication.emails_per_session,
            ),
            (
                "rate_limiting.email_authentication.attempt_per_session",
                &self.email_authentication.attempt_per_session,
            ),
            (
                "rate_limiting.compat_sso_redirect",
                &self.compat_sso_redirect,
            ),
            (
                "rate_limiting.device_authorization",
                &self.device_authorization,
            ),
            (
                "rate_limiting.device_code_entry.per_ip",
                &self.device_code_entry.per_ip,
            ),
            (
                "rate_limiting.device_code_entry.per_user",
                &self.device_code_entry.per_user,
            ),
        ];
        for (path, limiter) in limiters {
            limiter.validate(path)?;
        }
        Ok(())
    }
}

/// `branding`: names and links shown to users and published in discovery.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BrandingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Also published as `op_policy_uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<Url>,
    /// Also published as `op_tos_uri`; users must accept it when registering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imprint: Option<String>,
}

/// `captcha.service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptchaService {
    RecaptchaV2,
    CloudflareTurnstile,
    Hcaptcha,
}

/// `captcha`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptchaConfig {
    /// `None` (the default, or `null`): no captcha.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<CaptchaService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
}

impl CaptchaConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.service.is_some() {
            if self.site_key.is_none() {
                return Err(ConfigError::invalid(
                    "captcha.site_key",
                    "required when `captcha.service` is set",
                ));
            }
            if self.secret_key.is_none() {
                return Err(ConfigError::invalid(
                    "captcha.secret_key",
                    "required when `captcha.service` is set",
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CaptchaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptchaConfig")
            .field("service", &self.service)
            .field("site_key", &self.site_key)
            .field("secret_key", &Redacted(&self.secret_key))
            .finish()
    }
}

/// `oauth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OAuthConfig {
    pub device_code_grant_enabled: bool,
    /// Publish `verification_uri_complete` so the user code is filled in automatically.
    pub device_code_user_code_auto_fill_enabled: bool,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            device_code_grant_enabled: true,
            device_code_user_code_auto_fill_enabled: false,
        }
    }
}

/// `experimental`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentalConfig {
    /// Lifetime of OAuth 2.0 access tokens, in seconds.
    pub access_token_ttl: u64,
    /// Lifetime of expiring compatibility access tokens, in seconds.
    pub compat_token_ttl: u64,
    /// Gatehouse extension: for how long at most (seconds) an introspection answer for an
    /// active token is reused without a database lookup (each answer for between half and all
    /// of it, so that answers do not all expire at once); 0 turns the cache off. Changes made through this
    /// server (logout, lock, …) take effect at once; changes made by another process sharing
    /// the database (a `gatehouse manage` command, another replica) within about a second
    /// (they are announced in the `token_invalidations` table); only edits made to the
    /// database by hand wait for this many seconds.
    #[serde(default = "default_introspection_cache_ttl")]
    pub introspection_cache_ttl: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_session_expiration: Option<InactiveSessionExpirationConfig>,
    /// Gatehouse extension: the longest a browser session (signed in to Gatehouse's pages)
    /// lasts, in seconds, however active it is.
    #[serde(default = "default_user_session_lifetime")]
    pub user_session_lifetime: u64,
    /// Gatehouse extension: a browser session ends after this many seconds without use. With
    /// `inactive_session_expiration.expire_user_sessions`, the shorter of the two applies.
    #[serde(default = "default_user_session_idle_timeout")]
    pub user_session_idle_timeout: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_management_iframe_uri: Option<String>,
    /// Not typed yet: `soft_limit`, `hard_limit`, `max_session_threshold`,
    /// `dangerous_hard_limit_eviction`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_limit: Option<serde_yaml_ng::Value>,
}

impl Default for ExperimentalConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: 300,
            compat_token_ttl: 300,
            introspection_cache_ttl: default_introspection_cache_ttl(),
            inactive_session_expiration: None,
            user_session_lifetime: default_user_session_lifetime(),
            user_session_idle_timeout: default_user_session_idle_timeout(),
            plan_management_iframe_uri: None,
            session_limit: None,
        }
    }
}

/// `experimental.inactive_session_expiration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InactiveSessionExpirationConfig {
    /// Seconds of inactivity after which a session ends.
    pub ttl: u64,
    #[serde(default = "default_true")]
    pub expire_compat_sessions: bool,
    #[serde(default = "default_true")]
    pub expire_oauth_sessions: bool,
    #[serde(default = "default_true")]
    pub expire_user_sessions: bool,
}

fn default_true() -> bool {
    true
}

fn default_introspection_cache_ttl() -> u64 {
    60
}

/// 30 days.
fn default_user_session_lifetime() -> u64 {
    30 * 24 * 3600
}

/// 7 days.
fn default_user_session_idle_timeout() -> u64 {
    7 * 24 * 3600
}

impl ExperimentalConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            (
                "experimental.user_session_lifetime",
                self.user_session_lifetime,
            ),
            (
                "experimental.user_session_idle_timeout",
                self.user_session_idle_timeout,
            ),
        ] {
            if value < 60 {
                return Err(ConfigError::invalid(key, "must be at least 60 seconds"));
            }
        }
        if let Some(inactive) = &self.inactive_session_expiration
            && inactive.ttl < 60
        {
            return Err(ConfigError::invalid(
                "experimental.inactive_session_expiration.ttl",
                "must be at least 60 seconds",
            ));
        }
        Ok(())
    }

    /// How long browser sessions last (`user_session_lifetime`, and the shorter of
    /// `user_session_idle_timeout` and `inactive_session_expiration.ttl` when that applies to
    /// user sessions).
    pub fn browser_session_limits(&self) -> crate::domain::browser_sessions::BrowserSessionLimits {
        let seconds =
            |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        let mut idle = self.user_session_idle_timeout;
        if let Some(inactive) = &self.inactive_session_expiration
            && inactive.expire_user_sessions
        {
            idle = idle.min(inactive.ttl);
        }
        crate::domain::browser_sessions::BrowserSessionLimits {
            lifetime: seconds(self.user_session_lifetime),
            idle_timeout: seconds(idle),
        }
    }

    /// After how long without use compat sessions end (`inactive_session_expiration` with
    /// `expire_compat_sessions`), if they do.
    pub fn compat_session_idle_timeout(&self) -> Option<chrono::Duration> {
        self.inactive_session_expiration
            .as_ref()
            .filter(|inactive| inactive.expire_compat_sessions)
            .map(|inactive| {
                chrono::Duration::seconds(i64::try_from(inactive.ttl).unwrap_or(i64::MAX / 1000))
            })
    }

    /// The same for OAuth 2.0 sessions (`expire_oauth_sessions`).
    pub fn oauth_session_idle_timeout(&self) -> Option<chrono::Duration> {
        self.inactive_session_expiration
            .as_ref()
            .filter(|inactive| inactive.expire_oauth_sessions)
            .map(|inactive| {
                chrono::Duration::seconds(i64::try_from(inactive.ttl).unwrap_or(i64::MAX / 1000))
            })
    }
}

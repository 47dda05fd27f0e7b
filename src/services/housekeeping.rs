//! What the job worker does every minute besides jobs: delete rows of short-lived tables that
//! nothing can use any more (compat SSO logins, OAuth 2.0 grants, completed jobs, the `jti`s of
//! expired client assertions), and end the sessions that ran
//! out (browser sessions past their lifetime or idle timeout; compat and OAuth 2.0 sessions idle
//! past `experimental.inactive_session_expiration`, whose devices then leave the homeserver).
//! Several workers may run it at once (replicas): every step is idempotent.

use std::collections::BTreeSet;

use chrono::Duration;

use crate::{
    config::ExperimentalConfig,
    domain::{Clock, browser_sessions::BrowserSessionLimits, jobs::Job},
    services::compat_sso,
    store::{Store, StoreError},
};

/// Completed jobs are kept this long (for an admin looking at `queue_jobs`).
const KEEP_COMPLETED_JOBS: Duration = Duration::days(7);
/// OAuth 2.0 authorization and device grants are kept this long, as MAS keeps them: long past
/// their 10- and 20-minute lives, so that a late replay of a code still finds its grant.
pub const KEEP_OAUTH2_GRANTS: Duration = Duration::days(7);

/// The limits housekeeping enforces, from the configuration.
#[derive(Debug, Clone)]
pub struct Housekeeping {
    pub browser_sessions: BrowserSessionLimits,
    pub compat_idle_timeout: Option<Duration>,
    pub oauth_idle_timeout: Option<Duration>,
}

impl Default for Housekeeping {
    fn default() -> Self {
        Self::new(&ExperimentalConfig::default())
    }
}

/// What one round did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub compat_sso_logins: u64,
    pub oauth2_grants: u64,
    pub completed_jobs: u64,
    pub browser_sessions: u64,
    pub compat_sessions: u64,
    pub oauth2_sessions: u64,
    pub client_assertion_jtis: u64,
}

impl Housekeeping {
    pub fn new(experimental: &ExperimentalConfig) -> Self {
        Self {
            browser_sessions: experimental.browser_session_limits(),
            compat_idle_timeout: experimental.compat_session_idle_timeout(),
            oauth_idle_timeout: experimental.oauth_session_idle_timeout(),
        }
    }

    /// One round, in one unit of work.
    pub async fn sweep(&self, store: &Store, clock: &dyn Clock) -> Result<Swept, StoreError> {
        let now = clock.now();
        let mut swept = Swept::default();
        let mut repo = store.repo().await?;
        // A login that was not confirmed in time, or was and was exchanged (or not) within the
        // window after, is of no use; keep an hour's margin for clocks and slow requests.
        swept.compat_sso_logins = repo
            .compat_sso()
            .delete_started_before(
                now - compat_sso::CONFIRM_WINDOW - compat_sso::EXCHANGE_WINDOW - Duration::hours(1),
            )
            .await?;
        swept.oauth2_grants = repo
            .oauth2_grants()
            .delete_created_before(now - KEEP_OAUTH2_GRANTS)
            .await?;
        swept.completed_jobs = repo
            .jobs()
            .delete_completed_before(now - KEEP_COMPLETED_JOBS)
            .await?;
        // An expired assertion is refused on its `exp` alone; its `jti` need not be kept.
        swept.client_assertion_jtis = repo.client_assertions().delete_expired(now).await?;
        swept.browser_sessions = repo
            .browser_sessions()
            .finish_expired(&self.browser_sessions, now)
            .await?;
        let mut users_with_devices_gone = BTreeSet::new();
        if let Some(idle) = self.compat_idle_timeout {
            let ended = repo.compat().finish_inactive(now - idle, now).await?;
            swept.compat_sessions = ended.len() as u64;
            users_with_devices_gone.extend(ended.iter().map(|session| session.user_id));
        }
        if let Some(idle) = self.oauth_idle_timeout {
            let ended = repo
                .oauth2_sessions()
                .finish_inactive(now - idle, now)
                .await?;
            swept.oauth2_sessions = ended.len() as u64;
            users_with_devices_gone.extend(ended.iter().filter_map(|session| session.user_id));
        }
        for user_id in users_with_devices_gone {
            repo.jobs()
                .push(clock, &Job::SyncDevices { user_id })
                .await?;
        }
        repo.save().await?;
        Ok(swept)
    }
}

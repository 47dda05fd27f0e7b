//! The background worker: claims queued jobs and carries them out against the homeserver,
//! retrying with backoff when Synapse is unreachable. Nothing is lost while Synapse is down:
//! the job stays in the table until it succeeds (or is given up after many attempts and left
//! there, marked failed, for an admin).

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;

use crate::{
    domain::{
        Clock,
        jobs::{Job, JobStatus, QueuedJob},
    },
    services::housekeeping::{Housekeeping, Swept},
    store::{Store, StoreError},
    synapse::{ProvisionRequest, SynapseClient, SynapseError},
};

/// How long a worker may hold a job before another may take it over.
const LEASE: chrono::Duration = chrono::Duration::seconds(120);
/// How often an idle worker looks for due jobs (retries become due without a wake-up).
const POLL: Duration = Duration::from_secs(1);
/// How often the worker deletes dead rows and ends expired sessions.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Synapse(#[from] SynapseError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything a job needs.
#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub synapse: SynapseClient,
    pub clock: Arc<dyn Clock>,
    /// Woken when a request queued a job, so work starts at once instead of at the next poll.
    pub wake: Arc<Notify>,
    pub name: String,
    /// The cleanup and expiry round run every [`HOUSEKEEPING_EVERY`].
    pub housekeeping: Housekeeping,
}

impl Worker {
    pub fn new(store: Store, synapse: SynapseClient, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            synapse,
            clock,
            wake: Arc::new(Notify::new()),
            name: format!(
                "worker-{}",
                crate::domain::ids::new_id(&crate::domain::SystemClock)
            ),
            housekeeping: Housekeeping::default(),
        }
    }

    /// Run until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_housekeeping: Option<std::time::Instant> = None;
        loop {
            if last_housekeeping.is_none_or(|at| at.elapsed() >= HOUSEKEEPING_EVERY) {
                last_housekeeping = Some(std::time::Instant::now());
                match self
                    .housekeeping
                    .sweep(&self.store, self.clock.as_ref())
                    .await
                {
                    Ok(swept) if swept != Swept::default() => {
                        tracing::info!(?swept, "housekeeping");
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "housekeeping failed; will retry"),
                }
            }
            match self.run_pending().await {
                Ok(_) => {}
                Err(error) => tracing::error!(%error, "job queue unavailable"),
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {},
                _ = tokio::time::sleep(POLL) => {},
            }
        }
    }

    /// Carry out every job that is due now; returns how many were attempted.
    pub async fn run_pending(&self) -> Result<usize, StoreError> {
        let mut attempted = 0;
        loop {
            let claimed = {
                let mut repo = self.store.repo().await?;
                let job = repo
                    .jobs()
                    .claim_next(&self.name, self.clock.now(), LEASE)
                    .await?;
                repo.save().await?;
                job
            };
            let Some(job) = claimed else {
                return Ok(attempted);
            };
            attempted += 1;
            let outcome = self.execute(&job.job).await;
            let mut repo = self.store.repo().await?;
            match outcome {
                Ok(()) => {
                    repo.jobs().complete(job.id, self.clock.now()).await?;
                    tracing::debug!(job = %job.id, queue = job.job.queue_name(), "job done");
                }
                Err(error) => {
                    let status = repo
                        .jobs()
                        .fail(&job, &error.to_string(), self.clock.now())
                        .await?;
                    log_failure(&job, &error, status);
                }
            }
            repo.save().await?;
        }
    }

    async fn execute(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::ProvisionUser {
                user_id,
                set_displayname,
            } => self.provision_user(*user_id, set_displayname.clone()).await,
            Job::SyncDevices { user_id } => self.sync_devices(*user_id).await,
            Job::DeactivateUser { user_id, hs_erase } => {
                let Some(user) = self.user(*user_id).await? else {
                    return Ok(());
                };
                self.synapse.delete_user(&user.username, *hs_erase).await?;
                Ok(())
            }
            Job::UpdateDeviceDisplayName {
                user_id,
                device_id,
                display_name,
            } => {
                let Some(user) = self.user(*user_id).await? else {
                    return Ok(());
                };
                self.synapse
                    .update_device_display_name(&user.username, device_id, display_name)
                    .await?;
                Ok(())
            }
            Job::ReactivateUser { user_id } => {
                let Some(user) = self.user(*user_id).await? else {
                    return Ok(());
                };
                self.synapse.reactivate_user(&user.username).await?;
                Ok(())
            }
        }
    }

    async fn user(
        &self,
        user_id: ulid::Ulid,
    ) -> Result<Option<crate::domain::users::User>, StoreError> {
        let mut reader = self.store.reader().await?;
        let user = reader.users().find_by_id(user_id).await?;
        if user.is_none() {
            tracing::warn!(%user_id, "job for a user that no longer exists; nothing to do");
        }
        Ok(user)
    }

    async fn provision_user(
        &self,
        user_id: ulid::Ulid,
        set_displayname: Option<String>,
    ) -> Result<(), JobError> {
        let (user, emails) = {
            let mut reader = self.store.reader().await?;
            let Some(user) = reader.users().find_by_id(user_id).await? else {
                return Ok(());
            };
            let emails = reader.emails().list_for_user(user_id).await?;
            (user, emails)
        };
        let request = ProvisionRequest {
            localpart: user.username.clone(),
            set_displayname,
            set_emails: Some(emails.into_iter().map(|e| e.email).collect()),
            locked: Some(user.locked_at.is_some()),
            ..ProvisionRequest::default()
        };
        let created = self.synapse.provision_user(&request).await?;
        tracing::info!(user = %user.username, created, "provisioned user in the homeserver");
        // As MAS does: once the user exists, make its devices match its sessions.
        let mut repo = self.store.repo().await?;
        repo.jobs()
            .push(self.clock.as_ref(), &Job::SyncDevices { user_id })
            .await?;
        repo.save().await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn sync_devices(&self, user_id: ulid::Ulid) -> Result<(), JobError> {
        let (user, devices) = {
            let mut reader = self.store.reader().await?;
            let Some(user) = reader.users().find_by_id(user_id).await? else {
                return Ok(());
            };
            let devices = active_devices(&mut reader, user_id).await?;
            (user, devices)
        };
        self.synapse.sync_devices(&user.username, &devices).await?;
        Ok(())
    }
}

/// Device IDs of the user's active sessions: what Synapse's device list should be.
pub async fn active_devices(
    reader: &mut crate::store::Reader,
    user_id: ulid::Ulid,
) -> Result<Vec<String>, StoreError> {
    let mut devices: Vec<String> = reader
        .compat()
        .active_sessions(user_id)
        .await?
        .into_iter()
        .filter_map(|session| session.device_id)
        .collect();
    // OAuth 2.0 sessions name their device in a scope.
    devices.extend(
        reader
            .oauth2_sessions()
            .active_sessions(user_id)
            .await?
            .iter()
            .filter_map(|session| {
                crate::domain::scopes::device_from_scopes(&session.scope).map(str::to_owned)
            }),
    );
    devices.sort();
    devices.dedup();
    Ok(devices)
}

fn log_failure(job: &QueuedJob, error: &JobError, status: JobStatus) {
    match status {
        JobStatus::Failed => {
            tracing::error!(job = %job.id, queue = job.job.queue_name(), attempts = job.attempt + 1, %error, "job failed for good; left in queue_jobs as failed")
        }
        _ => {
            tracing::warn!(job = %job.id, queue = job.job.queue_name(), attempt = job.attempt + 1, %error, "job failed; will retry")
        }
    }
}

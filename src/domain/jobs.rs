//! Durable background jobs: what the worker must do (talk to Synapse, send email) even if the
//! server restarts or Synapse is down for a while.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// The work itself. The serialized form is the queue's `payload`; the queue name is [`Job::queue_name`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Job {
    /// Create or update the user in the homeserver (emails, lock state, and the display name
    /// when one was given, e.g. at registration).
    ProvisionUser {
        user_id: Ulid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        set_displayname: Option<String>,
    },
    /// Make the homeserver's device list equal the user's active sessions.
    SyncDevices { user_id: Ulid },
    /// Deactivate the user in the homeserver (with GDPR erasure when `hs_erase`).
    DeactivateUser { user_id: Ulid, hs_erase: bool },
    /// Reactivate the user in the homeserver.
    ReactivateUser { user_id: Ulid },
    /// Give a device its (new) display name in the homeserver.
    UpdateDeviceDisplayName {
        user_id: Ulid,
        device_id: String,
        display_name: String,
    },
}

impl Job {
    /// Re-provision a user in the homeserver (emails, lock state), leaving its display name.
    pub fn provision(user_id: Ulid) -> Job {
        Job::ProvisionUser {
            user_id,
            set_displayname: None,
        }
    }

    /// The MAS queue names, kept so admins reading the table see familiar names.
    pub fn queue_name(&self) -> &'static str {
        match self {
            Job::ProvisionUser { .. } => "provision-user",
            Job::SyncDevices { .. } => "sync-devices",
            Job::DeactivateUser { .. } => "deactivate-user",
            Job::ReactivateUser { .. } => "reactivate-user",
            Job::UpdateDeviceDisplayName { .. } => "update-device-display-name",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for its `scheduled_at`.
    Available,
    /// Claimed by a worker until its lease ends.
    Running,
    Completed,
    /// Gave up after [`MAX_ATTEMPTS`].
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Available => "available",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "available" => JobStatus::Available,
            "running" => JobStatus::Running,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            _ => return None,
        })
    }
}

/// A queued job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJob {
    pub id: Ulid,
    pub job: Job,
    pub status: JobStatus,
    /// How many times it was tried so far.
    pub attempt: u32,
    pub scheduled_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// After this many failed attempts a job is marked failed and left for an admin to look at.
pub const MAX_ATTEMPTS: u32 = 25;

/// How long to wait before attempt `attempt + 1`: 5 s doubling, capped at 15 minutes, so a
/// Synapse that is down for hours is retried steadily without hammering it.
pub fn retry_delay(attempt: u32) -> Duration {
    let seconds = 5_i64.saturating_mul(1_i64 << attempt.min(20));
    Duration::seconds(seconds.min(15 * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps() {
        assert_eq!(retry_delay(0), Duration::seconds(5));
        assert_eq!(retry_delay(1), Duration::seconds(10));
        assert_eq!(retry_delay(3), Duration::seconds(40));
        assert_eq!(retry_delay(30), Duration::minutes(15));
    }

    #[test]
    fn payload_round_trip() {
        let job = Job::DeactivateUser {
            user_id: Ulid::nil(),
            hs_erase: true,
        };
        let json = serde_json::to_string(&job).unwrap_or_default();
        assert!(json.contains("\"kind\":\"deactivate-user\""));
        assert_eq!(serde_json::from_str::<Job>(&json).ok(), Some(job));
    }
}

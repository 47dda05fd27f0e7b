//! The durable job queue (`queue_jobs`). Claiming is a single conditional UPDATE, so several
//! workers (replicas over one PostgreSQL) never run the same job at once; a worker that dies
//! loses its lease and the job becomes claimable again.

use chrono::{DateTime, Duration, Utc};
use sqlx::{Row, any::AnyRow};
use ulid::Ulid;

use super::{
    Conn, StoreError, Write,
    codec::{get_time, get_ulid, ms},
};
use crate::domain::{
    Clock,
    ids::new_id,
    jobs::{Job, JobStatus, MAX_ATTEMPTS, QueuedJob, retry_delay},
};

pub struct JobRepo<'c, M> {
    conn: Conn<'c, M>,
}

fn job_from_row(row: &AnyRow) -> Result<QueuedJob, StoreError> {
    let payload: String = row.try_get("payload")?;
    let status: String = row.try_get("status")?;
    let attempt: i64 = row.try_get("attempt")?;
    Ok(QueuedJob {
        id: get_ulid(row, "queue_job_id")?,
        job: serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt {
            column: "payload",
            detail: e.to_string(),
        })?,
        status: JobStatus::parse(&status).ok_or_else(|| StoreError::Corrupt {
            column: "status",
            detail: status.clone(),
        })?,
        attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
        scheduled_at: get_time(row, "scheduled_at")?,
        created_at: get_time(row, "created_at")?,
        last_error: row.try_get("last_error")?,
    })
}

const COLUMNS: &str =
    "queue_job_id, payload, status, attempt, scheduled_at, created_at, last_error";

impl<'c, M> JobRepo<'c, M> {
    pub(crate) fn new(conn: Conn<'c, M>) -> Self {
        Self { conn }
    }

    /// Jobs in a given status, oldest first (for `doctor`, tests and admins).
    pub async fn list(&mut self, status: JobStatus) -> Result<Vec<QueuedJob>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM queue_jobs WHERE status = $1 ORDER BY queue_job_id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.as_str())
            .fetch_all(&mut *self.conn)
            .await?
            .iter()
            .map(job_from_row)
            .collect()
    }
}

/// Writes: only inside a unit of work ([`super::Repo`]).
impl JobRepo<'_, Write<'_>> {
    /// Queue a job to run as soon as a worker is free.
    pub async fn enqueue(
        &mut self,
        id: Ulid,
        job: &Job,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let payload = serde_json::to_string(job).map_err(|e| StoreError::Corrupt {
            column: "payload",
            detail: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO queue_jobs (queue_job_id, queue_name, payload, status, attempt, scheduled_at, created_at)
             VALUES ($1, $2, $3, 'available', 0, $4, $4)",
        )
        .bind(id.to_string())
        .bind(job.queue_name())
        .bind(payload)
        .bind(ms(now))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Queue a job now, with a fresh id from `clock`.
    pub async fn push(&mut self, clock: &dyn Clock, job: &Job) -> Result<(), StoreError> {
        self.enqueue(new_id(clock), job, clock.now()).await
    }

    /// Claim the oldest job that is due (or whose previous worker's lease ran out) for `lease`.
    pub async fn claim_next(
        &mut self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<QueuedJob>, StoreError> {
        loop {
            let candidate: Option<String> = sqlx::query_scalar(
                "SELECT queue_job_id FROM queue_jobs
                 WHERE (status = 'available' AND scheduled_at <= $1)
                    OR (status = 'running' AND locked_until < $1)
                 ORDER BY scheduled_at, queue_job_id LIMIT 1",
            )
            .bind(ms(now))
            .fetch_optional(&mut *self.conn)
            .await?;
            let Some(id) = candidate else {
                return Ok(None);
            };
            // Conditional on the state we saw: if another worker claimed it meanwhile, try again.
            let claimed = sqlx::query(
                "UPDATE queue_jobs SET status = 'running', locked_by = $1, locked_until = $2, started_at = $3
                 WHERE queue_job_id = $4
                   AND ((status = 'available' AND scheduled_at <= $3) OR (status = 'running' AND locked_until < $3))",
            )
            .bind(worker)
            .bind(ms(now + lease))
            .bind(ms(now))
            .bind(&id)
            .execute(&mut *self.conn)
            .await?;
            if claimed.rows_affected() == 1 {
                let sql = format!("SELECT {COLUMNS} FROM queue_jobs WHERE queue_job_id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&id)
                    .fetch_one(&mut *self.conn)
                    .await?;
                return job_from_row(&row).map(Some);
            }
        }
    }

    pub async fn complete(&mut self, id: Ulid, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE queue_jobs SET status = 'completed', completed_at = $1, locked_by = NULL, locked_until = NULL
             WHERE queue_job_id = $2",
        )
        .bind(ms(now))
        .bind(id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Record a failed attempt: schedule a retry with backoff, or give up after the last attempt.
    /// Returns the status the job is left in.
    pub async fn fail(
        &mut self,
        job: &QueuedJob,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<JobStatus, StoreError> {
        let attempt = job.attempt.saturating_add(1);
        let status = if attempt >= MAX_ATTEMPTS {
            JobStatus::Failed
        } else {
            JobStatus::Available
        };
        sqlx::query(
            "UPDATE queue_jobs SET status = $1, attempt = $2, scheduled_at = $3, last_error = $4,
                                   locked_by = NULL, locked_until = NULL
             WHERE queue_job_id = $5",
        )
        .bind(status.as_str())
        .bind(i64::from(attempt))
        .bind(ms(now + retry_delay(job.attempt)))
        .bind(error)
        .bind(job.id.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(status)
    }

    /// Delete completed jobs that finished before `before` (failed ones stay for an admin).
    pub async fn delete_completed_before(
        &mut self,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM queue_jobs WHERE status = 'completed' AND completed_at < $1")
                .bind(ms(before))
                .execute(&mut *self.conn)
                .await?;
        Ok(done.rows_affected())
    }
}

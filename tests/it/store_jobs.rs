//! The durable job queue.

use chrono::Duration;
use gatehouse::domain::{
    Clock, MockClock,
    ids::new_id,
    jobs::{Job, JobStatus, MAX_ATTEMPTS},
};

use crate::{common::TestDb, on_both_backends};

async fn jobs_are_claimed_once_retried_with_backoff_and_survive_a_dead_worker(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    let user_id = new_id(&clock);
    let job_id = new_id(&clock);
    let mut repo = store.repo().await.unwrap();
    repo.jobs()
        .enqueue(
            job_id,
            &Job::ProvisionUser {
                user_id,
                set_displayname: None,
            },
            clock.now(),
        )
        .await
        .unwrap();
    repo.save().await.unwrap();

    let lease = Duration::seconds(60);
    let mut repo = store.repo().await.unwrap();
    let job = repo
        .jobs()
        .claim_next("worker-a", clock.now(), lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.id, job_id);
    assert_eq!(
        job.job,
        Job::ProvisionUser {
            user_id,
            set_displayname: None
        }
    );
    assert_eq!(job.status, JobStatus::Running);
    // Nobody else gets it while the lease runs.
    assert!(
        repo.jobs()
            .claim_next("worker-b", clock.now(), lease)
            .await
            .unwrap()
            .is_none()
    );

    // The homeserver was down: retry later, not now.
    assert_eq!(
        repo.jobs()
            .fail(&job, "connection refused", clock.now())
            .await
            .unwrap(),
        JobStatus::Available
    );
    assert!(
        repo.jobs()
            .claim_next("worker-b", clock.now(), lease)
            .await
            .unwrap()
            .is_none()
    );
    clock.advance(Duration::seconds(5));
    let job = repo
        .jobs()
        .claim_next("worker-b", clock.now(), lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.attempt, 1);
    assert_eq!(job.last_error.as_deref(), Some("connection refused"));

    // worker-b dies: after its lease the job is claimable again.
    clock.advance(Duration::seconds(61));
    let job = repo
        .jobs()
        .claim_next("worker-c", clock.now(), lease)
        .await
        .unwrap()
        .unwrap();
    repo.jobs().complete(job.id, clock.now()).await.unwrap();
    assert!(
        repo.jobs()
            .claim_next("worker-c", clock.now() + Duration::days(1), lease)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        repo.jobs().list(JobStatus::Completed).await.unwrap().len(),
        1
    );

    // A job that keeps failing is eventually given up, not lost.
    let stubborn = new_id(&clock);
    repo.jobs()
        .enqueue(stubborn, &Job::SyncDevices { user_id }, clock.now())
        .await
        .unwrap();
    let mut status = JobStatus::Available;
    for _ in 0..MAX_ATTEMPTS {
        clock.advance(Duration::hours(1));
        let job = repo
            .jobs()
            .claim_next("w", clock.now(), lease)
            .await
            .unwrap()
            .unwrap();
        status = repo
            .jobs()
            .fail(&job, "still down", clock.now())
            .await
            .unwrap();
    }
    assert_eq!(status, JobStatus::Failed);
    assert_eq!(repo.jobs().list(JobStatus::Failed).await.unwrap().len(), 1);
    repo.save().await.unwrap();
}

on_both_backends!(jobs_are_claimed_once_retried_with_backoff_and_survive_a_dead_worker);

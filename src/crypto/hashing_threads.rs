//! The threads password hashing runs on: one per core, shared by the whole process, at the
//! lowest CPU scheduling priority there is (Linux `SCHED_IDLE`).
//!
//! Hashing is the one CPU-heavy thing the server does, and it must not slow down the cheap
//! requests around it, above all token introspection, which Synapse makes for every client
//! request. At `SCHED_IDLE` a hashing thread takes only CPU time no other thread wants and
//! gives its core up as soon as another thread wakes. A burst of logins therefore still uses
//! every idle core; under load, introspection comes first and logins wait. Measured on two
//! cores (bench/introspection.sh, introspection paced at ~22,000 req/s): its p99 while logins
//! run flat out went from 4.1–4.7 ms at nice 10 to 2.6–3.0 ms, no more than two busy loops of
//! that priority cause, with logins alone as fast as before.
//!
//! These are dedicated threads rather than Tokio's blocking pool: a pool thread would keep
//! the priority for whatever blocking work it ran next (DNS lookups, file reads), which must
//! not wait behind every other thread.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock, mpsc};

type Job = Box<dyn FnOnce() + Send>;

/// Where jobs go, or why no hashing thread could be started.
static THREADS: OnceLock<Result<mpsc::Sender<Job>, String>> = OnceLock::new();

/// Run `work` on a hashing thread and wait for its result, without blocking the async
/// runtime. Fails when no hashing thread could be started, or when `work` panicked.
pub(crate) async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let threads = THREADS.get_or_init(start).as_ref().map_err(Clone::clone)?;
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        // The caller may have stopped waiting (client gone); the result is dropped then.
        let _ = done.send(work());
    });
    threads
        .send(job)
        .map_err(|_| "the password hashing threads have stopped".to_owned())?;
    result
        .await
        .map_err(|_| "password hashing failed unexpectedly (the hashing code panicked)".to_owned())
}

fn start() -> Result<mpsc::Sender<Job>, String> {
    let count = std::thread::available_parallelism().map_or(1, usize::from);
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    let mut started = 0;
    let mut failure = None;
    for index in 0..count {
        let queue = Arc::clone(&queue);
        let spawned = std::thread::Builder::new()
            .name(format!("gatehouse-hash-{index}"))
            .spawn(move || work_through(&queue));
        match spawned {
            Ok(_) => started += 1,
            Err(error) => failure = Some(error),
        }
    }
    match (started, failure) {
        (0, Some(error)) => Err(format!(
            "could not start a password hashing thread: {error}"
        )),
        (_, failure) => {
            if let Some(error) = failure {
                tracing::warn!("started {started} of {count} password hashing threads: {error}");
            }
            Ok(jobs)
        }
    }
}

/// A hashing thread's life: take jobs one at a time until the process ends. A job that
/// panics is reported to its caller (its result channel closes) and the thread goes on.
fn work_through(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_this_thread_priority();
    loop {
        // Only the wait for a job holds the lock; the job runs without it.
        let next = queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .recv();
        match next {
            Ok(job) => {
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}

fn lower_this_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: both calls only read their arguments (`param` lives across the call); pid 0
        // and PRIO_PROCESS with `who` 0 name the calling thread on Linux. Any thread may move
        // itself to SCHED_IDLE; should that fail, nice 19 is the next lowest.
        unsafe {
            if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
                libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::run;

    #[tokio::test]
    async fn results_come_back_and_a_panic_is_an_error_not_a_lost_thread() {
        assert_eq!(run(|| 6 * 7).await, Ok(42));
        let failed = run(|| -> u32 { panic!("boom") }).await;
        assert!(failed.is_err_and(|e| e.contains("panicked")));
        // Every thread still takes work.
        let count = std::thread::available_parallelism().map_or(1, usize::from);
        let waiting: Vec<_> = (0..count * 4)
            .map(|i| tokio::spawn(run(move || i * 2)))
            .collect();
        for (i, result) in waiting.into_iter().enumerate() {
            assert_eq!(result.await.expect("the task ran"), Ok(i * 2));
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_idle_priority() {
        // SAFETY: sched_getscheduler only reads its argument; 0 is the calling thread.
        let policy = run(|| unsafe { libc::sched_getscheduler(0) }).await;
        assert_eq!(policy, Ok(libc::SCHED_IDLE));
    }
}

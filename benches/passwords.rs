//! Password hashing throughput: `cargo bench --bench passwords`.
//!
//! Prints figures, asserts nothing. It measures the real `PasswordHasher` (spawn_blocking and the
//! semaphore included) with default argon2id and bcrypt cost 12, first one hash at a time, then with
//! as many concurrent hashes as there are cores, plus argon2id verification. Each measurement is
//! time-boxed so the whole run stays around half a minute even on a busy machine.

use std::time::{Duration, Instant};

use gatehouse::crypto::passwords::{
    DEFAULT_BCRYPT_COST, PasswordAlgorithm, PasswordHasher, PasswordScheme,
};

/// Wall-clock budget per measurement row.
const BUDGET: Duration = Duration::from_secs(4);
/// Stop early once this many operations are done.
const MAX_OPS: usize = 200;

struct Row {
    label: String,
    threads: usize,
    ops: usize,
    elapsed: Duration,
}

impl Row {
    fn per_second(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency of one operation as seen by its caller (wall time x concurrency / ops).
    fn ms_per_op(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1000.0 * self.threads as f64 / self.ops as f64
    }
}

fn hasher(algorithm: PasswordAlgorithm) -> PasswordHasher {
    let scheme = PasswordScheme {
        version: 1,
        algorithm,
        pepper: None,
        unicode_normalization: false,
    };
    match PasswordHasher::new(vec![scheme], 3) {
        Ok(hasher) => hasher,
        Err(e) => panic!("bench scheme rejected: {e}"),
    }
}

/// Runs `threads` concurrent callers, each looping on `op`, until the budget or `MAX_OPS` is spent.
async fn measure<F, Fut>(label: &str, threads: usize, op: F) -> Row
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    // One untimed warm-up (page faults for argon2's 19 MiB, lazy statics).
    op().await;
    let start = Instant::now();
    let deadline = start + BUDGET;
    let per_task = MAX_OPS.div_ceil(threads);
    let tasks: Vec<_> = (0..threads)
        .map(|_| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut done = 0;
                while done < per_task && Instant::now() < deadline {
                    op().await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut ops = 0;
    for task in tasks {
        ops += task.await.unwrap_or(0);
    }
    Row {
        label: label.to_owned(),
        threads,
        ops: ops.max(1),
        elapsed: start.elapsed(),
    }
}

#[tokio::main]
async fn main() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("password hashing benchmark: {cores} core(s) available, {BUDGET:?} per row");

    let argon2 = hasher(PasswordAlgorithm::Argon2id);
    let bcrypt = hasher(PasswordAlgorithm::Bcrypt {
        cost: DEFAULT_BCRYPT_COST,
    });
    let password = "correct horse battery staple";
    let stored = match argon2.hash(password).await {
        Ok((_, hash)) => hash,
        Err(e) => panic!("argon2 hash failed: {e}"),
    };

    let mut rows = Vec::new();
    for threads in [1, cores] {
        let h = argon2.clone();
        rows.push(
            measure("argon2id default: hash", threads, move || {
                let h = h.clone();
                async move {
                    let _ = h.hash(password).await;
                }
            })
            .await,
        );
        let h = bcrypt.clone();
        rows.push(
            measure("bcrypt cost 12: hash", threads, move || {
                let h = h.clone();
                async move {
                    let _ = h.hash(password).await;
                }
            })
            .await,
        );
        let h = argon2.clone();
        let s = stored.clone();
        rows.push(
            measure("argon2id default: verify", threads, move || {
                let h = h.clone();
                let s = s.clone();
                async move {
                    if h.verify(1, &s, password).await.is_err() {
                        eprintln!("verification unexpectedly failed");
                    }
                }
            })
            .await,
        );
        if cores == 1 {
            break;
        }
    }

    println!();
    println!(
        "{:<28} {:>8} {:>6} {:>9} {:>10} {:>12}",
        "operation", "threads", "ops", "wall s", "ops/s", "ms/op each"
    );
    println!("{}", "-".repeat(78));
    for row in &rows {
        println!(
            "{:<28} {:>8} {:>6} {:>9.2} {:>10.1} {:>12.1}",
            row.label,
            row.threads,
            row.ops,
            row.elapsed.as_secs_f64(),
            row.per_second(),
            row.ms_per_op()
        );
    }
    println!();
    println!("ms/op each = latency seen by one caller; with N threads, ops/s is the aggregate.");
}

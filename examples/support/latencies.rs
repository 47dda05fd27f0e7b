//! What the load generators report: every task's latencies and errors gathered into one
//! summary for the `RESULT` line.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// The load of one run, summed over its tasks.
pub struct Summary {
    pub count: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: usize,
}

/// Wait for `tasks` (each returns its latencies and its error count), started at `started`.
pub async fn gather(
    started: Instant,
    tasks: Vec<JoinHandle<(Vec<Duration>, usize)>>,
) -> anyhow::Result<Summary> {
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mine, failed) = task.await?;
        latencies.extend(mine);
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        latencies
            .get(index)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Summary {
        count: latencies.len(),
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        max_ms: percentile(1.0),
        errors,
    })
}

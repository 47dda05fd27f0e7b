//! Token-bucket rate limiters (`rate_limiting.*`): `burst` requests at once, refilled at
//! `per_second`. In memory, per process: with several replicas each enforces its own share.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::config::RateLimiterConfig;

pub struct RateLimiter<K> {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Above this many tracked keys, full (idle) buckets are dropped: they carry no information.
const PRUNE_ABOVE: usize = 10_000;

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(config: &RateLimiterConfig) -> Self {
        Self {
            burst: f64::from(config.burst.max(1)),
            per_second: config.per_second.max(f64::MIN_POSITIVE),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one token for `key`. `Err(wait)` when none is left: retry after `wait`.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let refill = now.saturating_duration_since(bucket.updated).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let limiter = RateLimiter::new(&RateLimiterConfig {
            burst: 3,
            per_second: 0.5,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(&"ip", t0).is_ok());
        }
        let wait = limiter.check(&"ip", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 2.0).abs() < 0.01, "{wait:?}");
        assert!(limiter.check(&"other", t0).is_ok(), "keys are independent");
        assert!(limiter.check(&"ip", t0 + Duration::from_secs(2)).is_ok());
        assert!(limiter.check(&"ip", t0 + Duration::from_secs(2)).is_err());
    }
}

//! Token-bucket rate limiters (`rate_limiting.*`): `burst` requests at once, refilled at
//! `per_second`. In memory, per process: with several replicas each enforces its own share.
//! Keys are bounded by their callers (an address, or an identifier of at most a username's
//! length), and the number of keys is capped, so a flood of new keys cannot grow the map.

use std::{
    collections::HashMap,
    hash::Hash,
    net::{IpAddr, Ipv6Addr},
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::config::RateLimiterConfig;

pub struct RateLimiter<K> {
    burst: f64,
    per_second: f64,
    buckets: Mutex<Buckets<K>>,
}

struct Buckets<K> {
    by_key: HashMap<K, Bucket>,
    /// Prune when there are more keys than this: pruning scans every key, so it runs again only
    /// once the map has doubled (amortised O(1) per check, even under a flood of keys).
    prune_above: usize,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Above this many tracked keys, full (idle) buckets are dropped: they carry no information.
const PRUNE_ABOVE: usize = 10_000;
/// At most this many keys are tracked. When pruning full buckets leaves more, the fullest half
/// goes: those are the keys least close to being limited, so a flood of fresh keys (which
/// arrive full) evicts its own kind before the buckets it is trying to reset.
const MAX_KEYS: usize = 100_000;

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(config: &RateLimiterConfig) -> Self {
        Self {
            burst: f64::from(config.burst.max(1)),
            per_second: config.per_second.max(f64::MIN_POSITIVE),
            buckets: Mutex::new(Buckets {
                by_key: HashMap::new(),
                prune_above: PRUNE_ABOVE,
            }),
        }
    }

    /// Take one token for `key`. `Err(wait)` when none is left: retry after `wait`.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Buckets {
            by_key: buckets,
            prune_above,
        } = &mut *buckets;
        if buckets.len() > *prune_above {
            let (burst, rate) = (self.burst, self.per_second);
            let level = |b: &Bucket| {
                (b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate)
                    .min(burst)
            };
            buckets.retain(|_, b| level(b) < burst);
            if buckets.len() >= MAX_KEYS {
                let mut levels: Vec<f64> = buckets.values().map(level).collect();
                let middle = levels.len() / 2;
                let (_, median, _) = levels.select_nth_unstable_by(middle, f64::total_cmp);
                let median = *median;
                buckets.retain(|_, b| level(b) < median);
                // All at the same level (e.g. all fresh): drop them all but what was asked.
                if buckets.len() >= MAX_KEYS {
                    buckets.clear();
                }
            }
            *prune_above = (buckets.len() * 2).clamp(PRUNE_ABOVE, MAX_KEYS);
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

/// Whom a per-client limit counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A client address, as [`address_key`] groups them.
    Address(IpAddr),
    /// The clients of UNIX-socket listeners whose proxy named no address: one shared bucket,
    /// so they are limited together rather than not at all.
    UnixSocket,
}

impl ClientKey {
    /// The key of a client whose address is `ip` (`None`: a UNIX-socket client with no
    /// `X-Forwarded-For`, see [`crate::http::client_ip::client_ip`]).
    pub fn of(ip: Option<IpAddr>) -> Self {
        ip.map_or(Self::UnixSocket, |ip| Self::Address(address_key(ip)))
    }
}

/// The key an address is limited under: IPv4 addresses one by one (IPv4-mapped IPv6 ones as
/// IPv4), IPv6 by /64, the smallest block a site is usually given, so one host cannot take a
/// fresh budget from each of its 2^64 addresses.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_keyed_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(
            address_key(mapped),
            "192.0.2.7".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn a_flood_of_new_keys_stays_bounded_and_keeps_limited_keys() {
        let limiter = RateLimiter::new(&RateLimiterConfig {
            burst: 2,
            per_second: 0.001,
        });
        let t0 = Instant::now();
        let victim = u64::MAX;
        assert!(limiter.check(&victim, t0).is_ok());
        assert!(limiter.check(&victim, t0).is_ok());
        assert!(limiter.check(&victim, t0).is_err());
        // Half-used keys (one attempt each) would survive pruning of full buckets.
        for key in 0..(MAX_KEYS as u64 + 10) {
            let _ = limiter.check(&key, t0);
        }
        let tracked = limiter.buckets.lock().map(|b| b.by_key.len()).unwrap_or(0);
        assert!(tracked <= MAX_KEYS, "{tracked} keys tracked");
        assert!(
            limiter.check(&victim, t0).is_err(),
            "the limited key is still limited"
        );
    }

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

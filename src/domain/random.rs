//! The one place that reaches for the operating system's randomness. Everything else takes a
//! [`RandomSource`] (or an RNG made from one), as it takes a [`super::Clock`], so that tests can
//! run on a seeded generator.

use std::sync::{Arc, Mutex};

use rand::{CryptoRng, RngCore, SeedableRng, rngs::StdRng};

/// Where random bytes come from: the OS, or (tests) a seeded generator.
#[derive(Clone, Default)]
pub enum RandomSource {
    #[default]
    System,
    Seeded(Arc<Mutex<StdRng>>),
}

impl std::fmt::Debug for RandomSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RandomSource::System => "RandomSource::System",
            RandomSource::Seeded(_) => "RandomSource::Seeded",
        })
    }
}

impl RandomSource {
    /// A reproducible source, for tests.
    pub fn seeded(seed: u64) -> Self {
        RandomSource::Seeded(Arc::new(Mutex::new(StdRng::seed_from_u64(seed))))
    }

    /// A generator drawing from this source. Cheap; make one where it is needed.
    pub fn rng(&self) -> SourceRng {
        SourceRng(self.clone())
    }
}

/// A cryptographically secure generator over a [`RandomSource`].
pub struct SourceRng(RandomSource);

impl SourceRng {
    fn with<T>(&mut self, draw: impl FnOnce(&mut dyn RngCore) -> T) -> T {
        match &self.0 {
            #[allow(clippy::disallowed_types)]
            RandomSource::System => draw(&mut rand::rngs::OsRng),
            RandomSource::Seeded(rng) => {
                draw(&mut *rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
            }
        }
    }
}

impl RngCore for SourceRng {
    fn next_u32(&mut self) -> u32 {
        self.with(|rng| rng.next_u32())
    }

    fn next_u64(&mut self) -> u64 {
        self.with(|rng| rng.next_u64())
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.with(|rng| rng.fill_bytes(dest))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.with(|rng| rng.try_fill_bytes(dest))
    }
}

// Both sources are: the OS's, and ChaCha-based `StdRng`.
impl CryptoRng for SourceRng {}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    #[test]
    fn seeded_sources_repeat_and_the_system_one_does_not() {
        let a: u128 = RandomSource::seeded(7).rng().r#gen();
        let b: u128 = RandomSource::seeded(7).rng().r#gen();
        assert_eq!(a, b);
        let system = RandomSource::System;
        let (c, d): (u128, u128) = (system.rng().r#gen(), system.rng().r#gen());
        assert_ne!(c, d);
    }
}

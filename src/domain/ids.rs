//! Identifiers: ULIDs, which sort by creation time. They come from one process-wide monotonic
//! generator so that two ids made in the same millisecond (or under a test clock that stands
//! still) still sort in the order they were made; "newest row" queries rely on that.

use std::{
    sync::{LazyLock, Mutex},
    time::SystemTime,
};

use ulid::{Generator, Ulid};

use super::Clock;

static GENERATOR: LazyLock<Mutex<Generator>> = LazyLock::new(|| Mutex::new(Generator::new()));

/// A fresh id stamped with the clock's "now".
pub fn new_id(clock: &dyn Clock) -> Ulid {
    let now: SystemTime = clock.now().into();
    let mut generator = GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Overflow needs 2^80 ids in one millisecond; fall back to a plain random id if it happens.
    generator
        .generate_from_datetime(now)
        .unwrap_or_else(|_| Ulid::from_datetime(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MockClock;

    #[test]
    fn ids_made_at_the_same_instant_still_sort_in_order() {
        let clock = MockClock::default();
        let ids: Vec<Ulid> = (0..100).map(|_| new_id(&clock)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(ids[0].datetime(), SystemTime::from(clock.now()));
    }
}

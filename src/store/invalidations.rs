//! Which cached token answers went stale, and since when.
//!
//! A unit of work that ends or narrows access tokens (a logout, a refresh that retires the old
//! token, a lock, a deactivation, a revoked personal session) names what it touched: a token, a
//! session or a user, by ULID. On commit those ids are recorded here, in this process, at once,
//! and in the `token_invalidations` table in the same transaction, so that every other process
//! sharing the database (another replica, a `gatehouse manage` command) learns of them when it
//! next calls [`Store::follow_token_invalidations`] — the server does so every second.
//!
//! A cached answer looked up at instant `t` is stale when one of its ids was learned here at or
//! after `t`. Learning later than the commit only costs a spurious cache miss, never a stale hit.

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::Row;
use ulid::Ulid;

use super::{
    Store, StoreError,
    codec::{self, ms},
};

/// Rows are stamped and read by the system clock, never a test clock: they are compared across
/// processes.
fn wall_clock() -> chrono::DateTime<chrono::Utc> {
    crate::domain::Clock::now(&crate::domain::SystemClock)
}

/// How far back a catch-up reads, beyond its previous one: covers transactions that committed a
/// little after their rows were stamped and clocks of other hosts that run slightly behind.
const CATCH_UP_OVERLAP: Duration = Duration::from_secs(60);

/// Rows older than this are deleted by [`Store::prune_token_invalidations`]; no cache keeps an
/// answer that long.
pub const KEEP_ROWS_FOR: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
pub struct TokenInvalidations {
    /// Token, session or user id → when this process learned it was invalidated.
    learned: RwLock<HashMap<Ulid, Instant>>,
    /// Bumped after each batch is added to `learned`; a cache entry that saw the current value
    /// needs no look at `learned`.
    generation: AtomicU64,
    /// What catch-ups have already applied (own commits included), by row id, with the row's
    /// time, so that the overlapping window does not apply a row twice.
    followed: std::sync::Mutex<Followed>,
}

#[derive(Debug, Default)]
struct Followed {
    /// Wall-clock milliseconds of the previous catch-up; `None` before the first.
    previous_ms: Option<i64>,
    rows: HashMap<Ulid, i64>,
}

impl TokenInvalidations {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether any of `ids` was invalidated at or after `since`.
    pub fn invalidated_since(&self, ids: &[Ulid], since: Instant) -> bool {
        let learned = self
            .learned
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        ids.iter()
            .any(|id| learned.get(id).is_some_and(|at| *at >= since))
    }

    fn learn(&self, ids: impl IntoIterator<Item = Ulid>) {
        let now = Instant::now();
        {
            let mut learned = self
                .learned
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for id in ids {
                learned.insert(id, now);
            }
        }
        // After the map: whoever sees the new generation also sees the entries.
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Forget invalidations learned before `before`: answers looked up earlier than that have
    /// expired anyway (callers pass now minus their cache TTL).
    pub fn forget_before(&self, before: Instant) {
        let mut learned = self
            .learned
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        learned.retain(|_, at| *at >= before);
    }

    fn followed(&self) -> std::sync::MutexGuard<'_, Followed> {
        self.followed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Write the invalidation rows of a unit of work (inside its transaction); returns their row
/// ids, to be marked as followed once committed.
pub(super) async fn write_rows(
    conn: &mut sqlx::AnyConnection,
    subjects: &[Ulid],
) -> Result<Vec<Ulid>, StoreError> {
    let now = ms(wall_clock());
    let mut row_ids = Vec::with_capacity(subjects.len());
    for subject in subjects {
        let row_id = crate::domain::ids::new_id(&crate::domain::SystemClock);
        sqlx::query(
            "INSERT INTO token_invalidations (token_invalidation_id, subject_id, created_at)
             VALUES ($1, $2, $3)",
        )
        .bind(row_id.to_string())
        .bind(subject.to_string())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        row_ids.push(row_id);
    }
    Ok(row_ids)
}

/// After the commit that wrote `row_ids` for `subjects`: learn them here and now.
pub(super) fn committed(
    invalidations: &TokenInvalidations,
    subjects: Vec<Ulid>,
    row_ids: Vec<Ulid>,
) {
    let now = ms(wall_clock());
    invalidations
        .followed()
        .rows
        .extend(row_ids.into_iter().map(|id| (id, now)));
    invalidations.learn(subjects);
}

impl Store {
    /// What this process knows of invalidated tokens.
    pub fn token_invalidations(&self) -> &TokenInvalidations {
        &self.invalidations
    }

    /// Learn the invalidations other processes committed since the previous call. The first
    /// call only takes note of what is there: nothing was cached before it.
    pub async fn follow_token_invalidations(&self) -> Result<usize, StoreError> {
        let now = ms(wall_clock());
        let overlap = i64::try_from(CATCH_UP_OVERLAP.as_millis()).unwrap_or(i64::MAX);
        let previous = self.invalidations.followed().previous_ms;
        let from = previous.unwrap_or(now) - overlap;
        let rows = sqlx::query(
            "SELECT token_invalidation_id, subject_id, created_at FROM token_invalidations
             WHERE created_at >= $1",
        )
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        let mut subjects = Vec::new();
        {
            let mut followed = self.invalidations.followed();
            followed.rows.retain(|_, at| *at >= from);
            for row in &rows {
                let row_id = codec::get_ulid(row, "token_invalidation_id")?;
                let created_at: i64 = row.try_get("created_at")?;
                if followed.rows.insert(row_id, created_at).is_none() && previous.is_some() {
                    subjects.push(codec::get_ulid(row, "subject_id")?);
                }
            }
            followed.previous_ms = Some(now);
        }
        let learned = subjects.len();
        if learned > 0 {
            self.invalidations.learn(subjects);
        }
        Ok(learned)
    }

    /// Delete invalidation rows older than [`KEEP_ROWS_FOR`].
    pub async fn prune_token_invalidations(&self) -> Result<u64, StoreError> {
        let keep = i64::try_from(KEEP_ROWS_FOR.as_millis()).unwrap_or(i64::MAX);
        let mut repo = self.repo().await?;
        let done = sqlx::query("DELETE FROM token_invalidations WHERE created_at < $1")
            .bind(ms(wall_clock()) - keep)
            .execute(&mut *repo.tx)
            .await?;
        repo.save().await?;
        Ok(done.rows_affected())
    }
}

//! Session activity, recorded when tokens are used: `last_active_at` / `last_active_ip` of the
//! compat, personal and OAuth 2.0 session a token belongs to, written at most once a minute per
//! session, and the first use of each expiring access token (what refresh-token replay
//! detection asks: was the successor used?). Nothing is written on the request's path: uses are
//! noted in memory and a flusher task writes them in one unit of work every few seconds, first
//! uses within a fraction of a second.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use ulid::Ulid;

use super::access::{ActiveToken, SessionRef};
use crate::store::{SessionActivity, Store, StoreError};

/// A session's activity is written at most this often.
pub const GRANULARITY: Duration = Duration::from_secs(60);
/// How often the flusher writes what has gathered.
const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// How long the flusher waits after a first use before writing, to batch the ones around it.
const FIRST_USE_DELAY: Duration = Duration::from_millis(50);
const SHARDS: usize = 16;

pub struct ActivityRecorder {
    shards: Vec<Mutex<Shard>>,
    /// Access tokens used for the first time: the session they belong to (which tells their
    /// kind), the token, when.
    first_uses: Mutex<Vec<FirstUse>>,
    first_use_queued: Notify,
    /// How long a token's first use is remembered as recorded: as long as an answer that
    /// predates the record may be served from the token cache.
    remember_marks_for: Duration,
}

type FirstUse = (SessionRef, Ulid, DateTime<Utc>);

/// When a session was used last, and from where.
type LastUse = (DateTime<Utc>, Option<String>);

#[derive(Default)]
struct Shard {
    /// When each session's activity was last noted for writing.
    noted: HashMap<SessionRef, Instant>,
    /// Activity waiting to be written.
    pending: HashMap<SessionRef, LastUse>,
    /// Tokens whose first use is noted (so a cached answer does not note it again).
    marked: HashMap<Ulid, Instant>,
}

impl ActivityRecorder {
    /// `token_cache_ttl`: how long the token cache may serve an answer (first-use records are
    /// deduplicated for that long).
    pub fn new(token_cache_ttl: Duration) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            first_uses: Mutex::default(),
            first_use_queued: Notify::new(),
            remember_marks_for: (token_cache_ttl * 2).max(GRANULARITY * 2),
        }
    }

    fn shard(&self, session: SessionRef) -> MutexGuard<'_, Shard> {
        let index = (session.id().0 as usize) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Note that `token` was used at `at`, from `ip` when known.
    pub fn token_used(&self, token: &ActiveToken, at: DateTime<Utc>, ip: Option<IpAddr>) {
        let now = Instant::now();
        let mut shard = self.shard(token.session);
        if token.first_use_unrecorded && !shard.marked.contains_key(&token.token_id) {
            shard.marked.insert(token.token_id, now);
            self.first_uses
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push((token.session, token.token_id, at));
            self.first_use_queued.notify_one();
        }
        if shard
            .noted
            .get(&token.session)
            .is_some_and(|noted| now.duration_since(*noted) < GRANULARITY)
        {
            return;
        }
        shard.noted.insert(token.session, now);
        shard
            .pending
            .insert(token.session, (at, ip.map(|ip| ip.to_string())));
    }

    /// Write everything noted so far. First uses that fail to be written are kept for the next
    /// flush (replay detection depends on them); session activity is best effort.
    pub async fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut activity = Vec::new();
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            activity.extend(shard.pending.drain());
            shard
                .noted
                .retain(|_, noted| now.duration_since(*noted) < GRANULARITY);
            let keep = self.remember_marks_for;
            shard
                .marked
                .retain(|_, marked| now.duration_since(*marked) < keep);
        }
        let first_uses = std::mem::take(
            &mut *self
                .first_uses
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if activity.is_empty() && first_uses.is_empty() {
            return Ok(());
        }
        let written = write(store, &activity, &first_uses).await;
        if written.is_err() {
            self.first_uses
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .extend(first_uses);
        }
        written
    }

    /// Run for the life of a server: flush every few seconds, and soon after a first use.
    pub async fn run(self: Arc<Self>, store: Store) {
        loop {
            tokio::select! {
                _ = self.first_use_queued.notified() => tokio::time::sleep(FIRST_USE_DELAY).await,
                _ = tokio::time::sleep(FLUSH_EVERY) => {}
            }
            if let Err(error) = self.flush(&store).await {
                tracing::warn!(%error, "could not record session activity; will retry");
            }
        }
    }
}

async fn write(
    store: &Store,
    activity: &[(SessionRef, LastUse)],
    first_uses: &[FirstUse],
) -> Result<(), StoreError> {
    let (mut compat, mut personal, mut oauth2) = (Vec::new(), Vec::new(), Vec::new());
    for (session, (at, ip)) in activity {
        let (kind, session_id) = match *session {
            SessionRef::Compat(id) => (&mut compat, id),
            SessionRef::Personal(id) => (&mut personal, id),
            SessionRef::OAuth2(id) => (&mut oauth2, id),
        };
        kind.push(SessionActivity {
            session_id,
            at: *at,
            ip: ip.as_deref(),
        });
    }
    let mut repo = store.repo().await?;
    repo.compat().record_activities(&compat).await?;
    repo.personal().record_activities(&personal).await?;
    repo.oauth2_sessions().record_activities(&oauth2).await?;
    for (session, token_id, at) in first_uses {
        match session {
            SessionRef::Compat(_) => {
                repo.compat()
                    .mark_access_tokens_used(&[*token_id], *at)
                    .await?
            }
            SessionRef::OAuth2(_) => {
                repo.oauth2_sessions()
                    .mark_access_tokens_used(&[*token_id], *at)
                    .await?
            }
            // Personal tokens do not rotate: their first use is not recorded.
            SessionRef::Personal(_) => {}
        }
    }
    repo.save().await
}

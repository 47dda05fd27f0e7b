//! Coalescing of concurrent compat token lookups. When many introspections miss the cache at
//! once (a server that just started, a burst of new tokens), looking each token up on its own
//! costs the database one statement per request. Here requests queue their token digests, and
//! a few runner tasks each take what has queued up and resolve it in one statement: under load
//! the batches grow, and when the server is quiet a lookup runs at once, alone.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::store::{
    Store, StoreError,
    compat::{CompatTokenLookup, LOOKUP_BATCH},
};

/// How many batches may be in flight at once; each holds one lookup connection.
const RUNNERS: usize = 4;

/// A runner's answer for one queued digest. `Err` means the batch failed (the runner logged
/// why) and the requester should look its token up alone, which gives it its own error.
type Answer = Result<Option<CompatTokenLookup>, ()>;

#[derive(Default)]
pub(super) struct CompatLookups {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queued: Vec<Queued>,
    /// Runner tasks alive. Only changed with the lock held, together with the check of
    /// `queued`, so that a queued digest always has a runner that will take it.
    runners: usize,
}

struct Queued {
    digest: [u8; 32],
    answer: oneshot::Sender<Answer>,
}

impl CompatLookups {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The compat access token whose SHA-256 digest is `digest`, whatever its state.
    pub(super) async fn find(
        self: &Arc<Self>,
        store: &Store,
        digest: [u8; 32],
    ) -> Result<Option<CompatTokenLookup>, StoreError> {
        let (answer, answered) = oneshot::channel();
        let start_runner = {
            let mut state = self.state();
            state.queued.push(Queued { digest, answer });
            let start = state.runners < RUNNERS;
            if start {
                state.runners += 1;
            }
            start
        };
        if start_runner {
            tokio::spawn(
                Runner {
                    lookups: Arc::clone(self),
                    released: false,
                }
                .run(store.clone()),
            );
        }
        match answered.await {
            Ok(Ok(found)) => Ok(found),
            // The batch failed, or its runner went away: look this token up alone.
            Ok(Err(())) | Err(_) => Ok(look_up(store, &[digest])
                .await?
                .pop()
                .map(|(_, lookup)| lookup)),
        }
    }
}

/// One runner task's claim on [`State::runners`].
struct Runner {
    lookups: Arc<CompatLookups>,
    /// Set when the claim was given up with the queue found empty.
    released: bool,
}

impl Runner {
    /// Take batches from the queue until it is empty.
    async fn run(mut self, store: Store) {
        loop {
            let batch: Vec<Queued> = {
                let mut state = self.lookups.state();
                if state.queued.is_empty() {
                    state.runners -= 1;
                    self.released = true;
                    return;
                }
                let take = state.queued.len().min(LOOKUP_BATCH);
                state.queued.drain(..take).collect()
            };
            // Requests that went away (client disconnected) need no answer.
            let batch: Vec<Queued> = batch
                .into_iter()
                .filter(|q| !q.answer.is_closed())
                .collect();
            if batch.is_empty() {
                continue;
            }
            let digests: Vec<[u8; 32]> = batch.iter().map(|queued| queued.digest).collect();
            match look_up(&store, &digests).await {
                Ok(found) => {
                    for queued in batch {
                        let answer = found
                            .iter()
                            .find(|(digest, _)| *digest == queued.digest)
                            .map(|(_, lookup)| lookup.clone());
                        let _ = queued.answer.send(Ok(answer));
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, tokens = batch.len(), "batched token lookup failed");
                    for queued in batch {
                        let _ = queued.answer.send(Err(()));
                    }
                }
            }
        }
    }
}

impl Drop for Runner {
    /// If the task panicked or was cancelled: give up the claim, and drop what is queued so
    /// that its requesters look up alone rather than wait for a runner that may never come.
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let mut state = self.lookups.state();
        state.runners -= 1;
        if state.runners == 0 {
            state.queued.clear();
        }
    }
}

async fn look_up(
    store: &Store,
    digests: &[[u8; 32]],
) -> Result<Vec<([u8; 32], CompatTokenLookup)>, StoreError> {
    let mut reader = store.lookup_reader().await?;
    match reader.compat().find_access_tokens(digests).await {
        Ok(found) => Ok(found),
        Err(error) => {
            reader.discard();
            Err(error)
        }
    }
}

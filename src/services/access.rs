//! What a presented access token grants: the one place that decides whether a bearer token is
//! active, for whom, with which scopes and device. Token introspection (for Synapse), the admin
//! API and the Synapse-admin-compatible routes all ask here.
//!
//! A token is active only if its format is ours (checked before any lookup), it is known, not
//! expired or revoked, its session is not finished, and its user is neither locked nor
//! deactivated.

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
    sync::{
        Arc, Mutex, MutexGuard, OnceLock,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::activity::GRANULARITY;

mod batch;

use crate::{
    domain::{
        scopes::{MAS_ADMIN, MATRIX_API, SYNAPSE_ADMIN, Scope},
        tokens::TokenType,
        users::User,
    },
    store::{
        Reader, Store, StoreError, compat::CompatTokenLookup, oauth2_sessions::OAuth2TokenLookup,
    },
};

/// The session a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionRef {
    Compat(Ulid),
    Personal(Ulid),
    OAuth2(Ulid),
}

impl SessionRef {
    pub fn id(self) -> Ulid {
        match self {
            SessionRef::Compat(id) | SessionRef::Personal(id) | SessionRef::OAuth2(id) => id,
        }
    }
}

/// An active access token and what it grants.
#[derive(Debug, Clone)]
pub struct ActiveToken {
    pub token_type: TokenType,
    pub token_id: Ulid,
    pub session: SessionRef,
    /// The token's user; `None` for a client's own session (client credentials).
    pub user: Option<User>,
    /// What the token may do now (stable forms): what it was granted, less what its user may
    /// no longer have.
    pub scope: Scope,
    /// The Matrix device: a compat session's (its device ID need not fit in a scope), or the
    /// one a device scope names.
    pub device_id: Option<String>,
    /// `legacy` for compat sessions (as MAS reports them), else the OAuth client id.
    pub client_id: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// An expiring (refresh-rotated) token whose first use is not recorded yet; see
    /// [`super::activity`].
    pub first_use_unrecorded: bool,
}

impl ActiveToken {
    /// The ids a change can name to end this token: the token, its session, its user (for a
    /// user-less session, the session again).
    fn subjects(&self) -> [Ulid; 3] {
        let session = self.session.id();
        [
            self.token_id,
            session,
            self.user.as_ref().map_or(session, |user| user.id),
        ]
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.contains(scope)
    }
}

/// The scopes that need their user to be allowed admin rights (`can_request_admin`) at the
/// time of use, not only when they were granted.
const ADMIN_SCOPES: [&str; 2] = [SYNAPSE_ADMIN, MAS_ADMIN];

/// What a token may do now: the scope it was granted, less the admin scopes its user may no
/// longer request. Decided here, for every kind of token, so that introspection (what Synapse
/// sees), the Synapse admin routes and the admin API all get the same answer: a demoted admin's
/// old tokens lose their admin power at once.
pub fn effective_scope(mut granted: Scope, user: &User) -> Scope {
    if !user.can_request_admin {
        for scope in ADMIN_SCOPES {
            granted.remove(scope);
        }
    }
    granted
}

/// Resolve `token` at `now`. `Ok(None)` means "not active", whatever the reason: callers must
/// not tell unknown, expired, revoked and locked-user tokens apart to clients.
pub async fn resolve_access_token(
    reader: &mut Reader,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<ActiveToken>, StoreError> {
    let Ok(token_type) = TokenType::check(token) else {
        return Ok(None);
    };
    let active = match token_type {
        TokenType::CompatAccessToken => {
            let found = reader.compat().find_access_token(token).await?;
            return Ok(found.and_then(|found| compat_grant(found, now)));
        }
        TokenType::PersonalAccessToken => {
            let Some(found) = reader.personal().find_token(token).await? else {
                return Ok(None);
            };
            if !found.token.is_valid(now) || found.session.revoked_at.is_some() {
                return Ok(None);
            }
            let Some(user) = reader
                .users()
                .find_by_id(found.session.actor_user_id)
                .await?
            else {
                return Ok(None);
            };
            let device_id =
                crate::domain::scopes::device_from_scopes(&found.session.scope).map(str::to_owned);
            ActiveToken {
                token_type,
                token_id: found.token.id,
                session: SessionRef::Personal(found.session.id),
                scope: effective_scope(found.session.scope, &user),
                user: Some(user),
                device_id,
                client_id: found
                    .session
                    .owner_client_id
                    .map_or_else(|| "personal".to_owned(), |id| id.to_string()),
                issued_at: found.token.created_at,
                expires_at: found.token.expires_at,
                first_use_unrecorded: false,
            }
        }
        TokenType::AccessToken => {
            let found = reader.oauth2_sessions().find_access_token(token).await?;
            return Ok(found.and_then(|found| oauth2_grant(found, now)));
        }
        // Refresh tokens are never valid as access tokens.
        TokenType::RefreshToken | TokenType::CompatRefreshToken => return Ok(None),
    };
    if !active.user.as_ref().is_some_and(User::is_active) {
        return Ok(None);
    }
    Ok(Some(active))
}

/// What a found compat access token grants at `now`, if it is active.
fn compat_grant(found: CompatTokenLookup, now: DateTime<Utc>) -> Option<ActiveToken> {
    if !found.token.is_valid(now) || found.session_finished || !found.user.is_active() {
        return None;
    }
    let mut granted = Scope::default();
    granted.insert(MATRIX_API);
    if found.is_synapse_admin {
        granted.insert(SYNAPSE_ADMIN);
    }
    Some(ActiveToken {
        token_type: TokenType::CompatAccessToken,
        token_id: found.token.id,
        session: SessionRef::Compat(found.session_id),
        scope: effective_scope(granted, &found.user),
        user: Some(found.user),
        device_id: found.device_id,
        client_id: "legacy".to_owned(),
        issued_at: found.token.created_at,
        expires_at: found.token.expires_at,
        first_use_unrecorded: found.token.expires_at.is_some()
            && found.token.first_used_at.is_none(),
    })
}

/// What a found OAuth 2.0 access token grants at `now`, if it is active. A user's token is
/// narrowed like every other ([`effective_scope`]); a client's own token (client credentials)
/// has what it was issued.
fn oauth2_grant(found: OAuth2TokenLookup, now: DateTime<Utc>) -> Option<ActiveToken> {
    if !found.token.is_valid(now) || found.session.is_finished() {
        return None;
    }
    let scope = match &found.user {
        Some(user) if !user.is_active() => return None,
        Some(user) => effective_scope(found.session.scope.clone(), user),
        None if found.session.user_id.is_some() => return None,
        None => found.session.scope.clone(),
    };
    let device_id =
        crate::domain::scopes::device_from_scopes(&found.session.scope).map(str::to_owned);
    Some(ActiveToken {
        token_type: TokenType::AccessToken,
        token_id: found.token.id,
        session: SessionRef::OAuth2(found.session.id),
        user: found.user,
        scope,
        device_id,
        client_id: found.session.client_id.to_string(),
        issued_at: found.token.created_at,
        expires_at: found.token.expires_at,
        first_use_unrecorded: found.token.first_used_at.is_none(),
    })
}

/// A short-lived cache of active-token answers, so that the tokens Synapse asks about again and
/// again cost no database lookup. Only active answers are kept (an unknown token is looked up
/// every time). An answer goes stale when its TTL passes, when the token expires, or when a
/// committed change names its token, session or user (see [`crate::store::invalidations`]):
/// at once for changes made by this process, within [`FOLLOW_EVERY`] for changes made by
/// another process sharing the database.
pub struct TokenCache {
    ttl: Duration,
    shards: Vec<Mutex<Shard>>,
    compat_lookups: Arc<batch::CompatLookups>,
}

type Shard = HashMap<TokenKey, CachedToken, BuildHasherDefault<TokenKeyHasher>>;

/// The SHA-256 digest of a token string. Already uniformly random, so its hash is 8 of its
/// bytes rather than a SipHash of all 32.
#[derive(Clone, Copy, PartialEq, Eq)]
struct TokenKey([u8; 32]);

impl std::hash::Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Not the first bytes: the first one picks the shard.
        let mut eight = [0; 8];
        eight.copy_from_slice(&self.0[8..16]);
        state.write_u64(u64::from_le_bytes(eight));
    }
}

#[derive(Default)]
struct TokenKeyHasher(u64);

impl Hasher for TokenKeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `TokenKey`; fold anything else in rather than drop it.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

struct CachedToken {
    answer: Arc<Resolved>,
    /// When the lookup that produced this answer started.
    looked_up: Instant,
    /// The invalidation generation seen when the answer was last known fresh.
    generation: u64,
}

/// An active token as the cache hands it out, with room for renderings of it that are worth
/// computing once per cached answer rather than once per request (the introspection body).
pub struct Resolved {
    pub token: ActiveToken,
    renderings: [OnceLock<Box<str>>; 2],
    /// When a use of this answer was last handed to the activity recorder (Unix seconds;
    /// `i64::MIN` for never). See [`Resolved::use_worth_noting`].
    last_noted: AtomicI64,
}

impl Resolved {
    fn new(token: ActiveToken) -> Self {
        Self {
            token,
            renderings: Default::default(),
            last_noted: AtomicI64::new(i64::MIN),
        }
    }

    /// Whether a use at `at` may tell the activity recorder anything new: the first use of this
    /// answer (which may be the token's first use), then one a [`GRANULARITY`] later, which is
    /// as often as the recorder writes a session's activity anyway. Cache hits in between skip
    /// the recorder's locks and maps: one atomic load per request (bench/introspection.sh).
    pub fn use_worth_noting(&self, at: DateTime<Utc>) -> bool {
        let now = at.timestamp();
        let last = self.last_noted.load(Ordering::Relaxed);
        if last != i64::MIN && now.saturating_sub(last) < GRANULARITY.as_secs() as i64 {
            return false;
        }
        // Two requests racing here both note the use; the recorder keeps one.
        self.last_noted.store(now, Ordering::Relaxed);
        true
    }

    /// Rendering number `which` (0 or 1) of this answer, made by `render` the first time.
    pub fn rendering(&self, which: usize, render: impl FnOnce(&ActiveToken) -> String) -> &str {
        self.renderings[which.min(1)].get_or_init(|| render(&self.token).into_boxed_str())
    }
}

const SHARDS: usize = 16;
/// Per shard; a full shard is emptied rather than tracked entry by entry.
const SHARD_CAPACITY: usize = 32_768;

/// How often a server learns the invalidations committed by other processes.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// How often a server deletes invalidation rows nobody needs any more.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            compat_lookups: Arc::default(),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How long the answer for `key` is kept: between half and all of the TTL, spread by the
    /// key (a digest, so evenly). Answers fetched together, as in a server's first seconds, then
    /// do not all go stale together and come back as one burst of lookups.
    fn ttl_for(&self, key: &TokenKey) -> Duration {
        let spread = u32::from(key.0[31]);
        self.ttl / 2 + self.ttl / 2 * spread / u32::from(u8::MAX)
    }

    fn shard(&self, key: &TokenKey) -> MutexGuard<'_, Shard> {
        self.shards[usize::from(key.0[0]) % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Like [`resolve_access_token`], answering from the cache when a fresh answer is there.
    pub async fn resolve(
        &self,
        store: &Store,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<Resolved>>, StoreError> {
        let Ok(token_type) = TokenType::check(token) else {
            return Ok(None);
        };
        let key = TokenKey(crate::crypto::sha256(token));
        if self.ttl.is_zero() {
            return self.look_up(store, token_type, token, &key, now).await;
        }
        let invalidations = store.token_invalidations();
        // Read before the cache and the lookup: an invalidation learned after this point makes
        // what they return stale, instead of being hidden by it.
        let generation = invalidations.generation();
        let looked_up = Instant::now();
        if let Some(cached) = self.shard(&key).get_mut(&key)
            && cached.looked_up.elapsed() < self.ttl_for(&key)
            && cached
                .answer
                .token
                .expires_at
                .is_none_or(|expires_at| now < expires_at)
            && (cached.generation == generation
                || !invalidations
                    .invalidated_since(&cached.answer.token.subjects(), cached.looked_up))
        {
            cached.generation = generation;
            return Ok(Some(cached.answer.clone()));
        }
        let found = self.look_up(store, token_type, token, &key, now).await?;
        let mut shard = self.shard(&key);
        match &found {
            Some(answer) => {
                if shard.len() >= SHARD_CAPACITY {
                    shard.clear();
                }
                shard.insert(
                    key,
                    CachedToken {
                        answer: answer.clone(),
                        looked_up,
                        generation,
                    },
                );
            }
            None => {
                shard.remove(&key);
            }
        }
        Ok(found)
    }

    /// [`resolve_access_token`] without the cache. Compat access tokens, nearly all of what
    /// Synapse asks about, are looked up in batches with other requests'; the rest on a lookup
    /// connection (see [`Store::lookup_reader`]).
    async fn look_up(
        &self,
        store: &Store,
        token_type: TokenType,
        token: &str,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<Resolved>>, StoreError> {
        let active = if token_type == TokenType::CompatAccessToken {
            let found = self.compat_lookups.find(store, key.0).await?;
            found.and_then(|found| compat_grant(found, now))
        } else {
            let mut reader = store.lookup_reader().await?;
            match resolve_access_token(&mut reader, token, now).await {
                Ok(active) => active,
                Err(error) => {
                    reader.discard();
                    return Err(error);
                }
            }
        };
        Ok(active.map(|token| Arc::new(Resolved::new(token))))
    }
}

/// Run for the life of a server: every [`FOLLOW_EVERY`], learn what other processes
/// invalidated and forget what no cached answer can predate; every [`PRUNE_EVERY`], delete old
/// invalidation rows. Database errors are logged and retried on the next tick.
pub async fn follow_invalidations(store: Store, ttl: Duration) {
    let mut follow = tokio::time::interval(FOLLOW_EVERY);
    follow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<Instant> = None;
    loop {
        follow.tick().await;
        if let Err(error) = store.follow_token_invalidations().await {
            tracing::warn!(%error, "could not read token invalidations; cached answers may lag");
        }
        if let Some(before) = Instant::now().checked_sub(ttl) {
            store.token_invalidations().forget_before(before);
        }
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(Instant::now());
            if let Err(error) = store.prune_token_invalidations().await {
                tracing::warn!(%error, "could not delete old token invalidations");
            }
        }
    }
}

//! What a presented access token grants: the one place that decides whether a bearer token is
//! active, for whom, with which scopes and device. Token introspection (for Synapse), the admin
//! API and the Synapse-admin-compatible routes all ask here.
//!
//! A token is active only if its format is ours (checked before any lookup), it is known, not
//! expired or revoked, its session is not finished, and its user is neither locked nor
//! deactivated.

use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::{
    domain::{
        scopes::{MATRIX_API, SYNAPSE_ADMIN},
        tokens::TokenType,
        users::User,
    },
    store::{Reader, StoreError},
};

/// The session a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRef {
    Compat(Ulid),
    Personal(Ulid),
}

impl SessionRef {
    pub fn id(self) -> Ulid {
        match self {
            SessionRef::Compat(id) | SessionRef::Personal(id) => id,
        }
    }
}

/// An active access token and what it grants.
#[derive(Debug, Clone)]
pub struct ActiveToken {
    pub token_type: TokenType,
    pub session: SessionRef,
    pub user: User,
    /// Scope tokens, as granted (stable forms).
    pub scopes: Vec<String>,
    /// The Matrix device, for compat sessions (their device IDs need not fit in a scope).
    pub device_id: Option<String>,
    /// `legacy` for compat sessions (as MAS reports them), else the OAuth client id.
    pub client_id: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl ActiveToken {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
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
            let Some(found) = reader.compat().find_access_token(token).await? else {
                return Ok(None);
            };
            if !found.token.is_valid(now) || found.session.is_finished() {
                return Ok(None);
            }
            let mut scopes = vec![MATRIX_API.to_owned()];
            if found.session.is_synapse_admin {
                scopes.push(SYNAPSE_ADMIN.to_owned());
            }
            ActiveToken {
                token_type,
                session: SessionRef::Compat(found.session.id),
                user: found.user,
                scopes,
                device_id: found.session.device_id,
                client_id: "legacy".to_owned(),
                issued_at: found.token.created_at,
                expires_at: found.token.expires_at,
            }
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
                crate::domain::scopes::device_from_scopes(&found.session.scopes).map(str::to_owned);
            ActiveToken {
                token_type,
                session: SessionRef::Personal(found.session.id),
                user,
                scopes: found.session.scopes,
                device_id,
                client_id: found
                    .session
                    .owner_client_id
                    .map_or_else(|| "personal".to_owned(), |id| id.to_string()),
                issued_at: found.token.created_at,
                expires_at: found.token.expires_at,
            }
        }
        // OAuth 2.0 tokens are issued once the OAuth endpoints exist; until then none is ours.
        // Refresh tokens are never valid as access tokens.
        TokenType::AccessToken | TokenType::RefreshToken | TokenType::CompatRefreshToken => {
            return Ok(None);
        }
    };
    if !active.user.is_active() {
        return Ok(None);
    }
    Ok(Some(active))
}

/// A short-lived cache of active-token answers, so that the tokens Synapse asks about again and
/// again cost no database lookup. Only active answers are kept (an unknown token is looked up
/// every time). Every unit of work this process commits that can end or narrow a token bumps
/// [`crate::store::tokens_epoch`], which makes every cached answer stale at once; changes made
/// elsewhere are seen within the TTL.
pub struct TokenCache {
    ttl: std::time::Duration,
    shards: Vec<std::sync::Mutex<std::collections::HashMap<[u8; 32], CachedToken>>>,
}

#[derive(Clone)]
struct CachedToken {
    token: ActiveToken,
    stored: std::time::Instant,
    epoch: u64,
}

const SHARDS: usize = 16;
/// Per shard; a full shard is emptied rather than tracked entry by entry.
const SHARD_CAPACITY: usize = 32_768;

impl TokenCache {
    pub fn new(ttl: std::time::Duration) -> Self {
        Self {
            ttl,
            shards: (0..SHARDS)
                .map(|_| std::sync::Mutex::new(std::collections::HashMap::new()))
                .collect(),
        }
    }

    fn shard(
        &self,
        key: &[u8; 32],
    ) -> &std::sync::Mutex<std::collections::HashMap<[u8; 32], CachedToken>> {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    /// Like [`resolve_access_token`], answering from the cache when a fresh answer is there.
    pub async fn resolve(
        &self,
        store: &crate::store::Store,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveToken>, StoreError> {
        if self.ttl.is_zero() {
            let mut reader = store.reader().await?;
            return resolve_access_token(&mut reader, token, now).await;
        }
        if TokenType::check(token).is_err() {
            return Ok(None);
        }
        let key = crate::crypto::sha256(token);
        let epoch = crate::store::tokens_epoch();
        {
            let shard = self
                .shard(&key)
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(cached) = shard.get(&key)
                && cached.epoch == epoch
                && cached.stored.elapsed() < self.ttl
                && cached
                    .token
                    .expires_at
                    .is_none_or(|expires_at| now < expires_at)
            {
                return Ok(Some(cached.token.clone()));
            }
        }
        // The epoch is read before the lookup: a change committed during it makes this answer
        // stale on arrival instead of being hidden by it.
        let found = {
            let mut reader = store.reader().await?;
            resolve_access_token(&mut reader, token, now).await?
        };
        let mut shard = self
            .shard(&key)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &found {
            Some(active) => {
                if shard.len() >= SHARD_CAPACITY {
                    shard.clear();
                }
                shard.insert(
                    key,
                    CachedToken {
                        token: active.clone(),
                        stored: std::time::Instant::now(),
                        epoch,
                    },
                );
            }
            None => {
                shard.remove(&key);
            }
        }
        Ok(found)
    }
}

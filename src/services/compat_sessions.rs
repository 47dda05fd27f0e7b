//! Compatibility sessions over their life: start one (a legacy `/login`), refresh its tokens,
//! finish it (logout). Shared by the compat HTTP layer and the CLI. Changes that Synapse must
//! see are returned to the caller or queued as jobs; nothing here talks HTTP.

use chrono::Duration;
use rand::Rng;
use ulid::Ulid;

use crate::{
    domain::{
        Clock,
        compat::{CompatAccessToken, CompatRefreshToken, CompatSession, RefreshDecision},
        ids::new_id,
        jobs::Job,
        tokens::TokenType,
        users::User,
    },
    store::{Store, StoreError},
};

/// What a new session hands to the client.
#[derive(Clone)]
pub struct StartedSession {
    pub session: CompatSession,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Lifetime of the access token when it is refreshable.
    pub expires_in: Option<Duration>,
}

impl std::fmt::Debug for StartedSession {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedSession")
            .field("session", &self.session)
            .field("access_token", &crate::domain::redact::Redacted)
            .field(
                "refresh_token",
                &crate::domain::redact::RedactedOption(&self.refresh_token),
            )
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// How to start a session.
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    pub device_id: String,
    pub display_name: Option<String>,
    /// Issue a refresh token and a short-lived access token (`compat_token_ttl`).
    pub refreshable: Option<Duration>,
    pub is_synapse_admin: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The SSO login (`m.login.token`) the session comes from: linked to it, so the session
    /// shows the login's `redirect_uri`.
    pub sso_login: Option<Ulid>,
}

/// Start a session for `user`. Any active session of the same user on the same device is
/// finished first, as Synapse replaces a device's tokens on a new login.
pub async fn start(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    user: &User,
    request: SessionRequest,
) -> Result<StartedSession, StoreError> {
    let now = clock.now();
    let access_token = TokenType::CompatAccessToken.generate(rng);
    let refresh_token = request
        .refreshable
        .map(|_| TokenType::CompatRefreshToken.generate(rng));
    let mut repo = store.repo().await?;
    for mut previous in repo.compat().active_sessions(user.id).await? {
        if previous.device_id.as_deref() == Some(request.device_id.as_str()) {
            repo.compat().finish_session(&mut previous, now).await?;
        }
    }
    let session = CompatSession {
        id: new_id(clock),
        user_id: user.id,
        device_id: Some(request.device_id),
        human_name: request.display_name,
        created_at: now,
        finished_at: None,
        is_synapse_admin: request.is_synapse_admin,
        last_active_at: Some(now),
        last_active_ip: request.ip,
        user_agent: request.user_agent,
        redirect_uri: None,
    };
    repo.compat().add_session(&session).await?;
    if let Some(login) = request.sso_login {
        repo.compat_sso().link_session(login, session.id).await?;
    }
    let access = CompatAccessToken {
        id: new_id(clock),
        session_id: session.id,
        created_at: now,
        expires_at: request.refreshable.map(|ttl| now + ttl),
        first_used_at: None,
    };
    repo.compat()
        .add_access_token(&access, &access_token)
        .await?;
    if let Some(refresh_token) = &refresh_token {
        let refresh = CompatRefreshToken {
            id: new_id(clock),
            session_id: session.id,
            access_token_id: access.id,
            created_at: now,
            consumed_at: None,
            next_id: None,
        };
        repo.compat()
            .add_refresh_token(&refresh, refresh_token)
            .await?;
    }
    repo.save().await?;
    Ok(StartedSession {
        session,
        access_token,
        refresh_token,
        expires_in: request.refreshable,
    })
}

/// Why a refresh was refused. Clients get the same answer for each.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("unknown, used or revoked refresh token")]
    Invalid,
    /// A consumed refresh token came back after its successor was used: the session was ended
    /// (its device goes away in the homeserver once the queued sync runs).
    #[error("a replaced refresh token was presented again; the session was ended")]
    Replayed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Rotate a refresh token: a new access/refresh pair; the presented refresh token is consumed
/// and the access token it belonged to stops working. A token presented again is handled as
/// [`RefreshDecision`] says: rotated again if its successor is untouched, else the session
/// ends (RFC 9700 §4.14.2).
pub async fn refresh(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    presented: &str,
    ttl: Duration,
) -> Result<(StartedSession, User), RefreshError> {
    if TokenType::check(presented) != Ok(TokenType::CompatRefreshToken) {
        return Err(RefreshError::Invalid);
    }
    let now = clock.now();
    let access_token = TokenType::CompatAccessToken.generate(rng);
    let refresh_token = TokenType::CompatRefreshToken.generate(rng);
    let mut repo = store.repo().await?;
    let Some(old) = repo.compat().find_refresh_token(presented).await? else {
        return Err(RefreshError::Invalid);
    };
    let Some(mut session) = repo.compat().find_session(old.session_id).await? else {
        return Err(RefreshError::Invalid);
    };
    let Some(user) = repo.users().find_by_id(session.user_id).await? else {
        return Err(RefreshError::Invalid);
    };
    if session.is_finished() || !user.is_active() {
        return Err(RefreshError::Invalid);
    }
    let successor = match (old.consumed_at, old.next_id) {
        (None, _) => None,
        (Some(_), Some(next)) => repo.compat().find_refresh_token_by_id(next).await?,
        // Consumed before successors were recorded: nothing to compare with; refuse.
        (Some(_), None) => return Err(RefreshError::Invalid),
    };
    let successor_used = match &successor {
        Some(next) => {
            next.consumed_at.is_some()
                || repo
                    .compat()
                    .access_token_first_used(next.access_token_id)
                    .await?
                    .is_some()
        }
        None => false,
    };
    let next = CompatRefreshToken {
        id: new_id(clock),
        session_id: session.id,
        access_token_id: new_id(clock),
        created_at: now,
        consumed_at: None,
        next_id: None,
    };
    match RefreshDecision::for_token(&old, successor_used) {
        RefreshDecision::Rotate => {
            // Conditional update: of two concurrent refreshes with the same token only one wins.
            if !repo
                .compat()
                .consume_refresh_token(old.id, next.id, now)
                .await?
            {
                return Err(RefreshError::Invalid);
            }
        }
        RefreshDecision::RotateAgain => {
            let Some(successor) = successor else {
                return Err(RefreshError::Invalid);
            };
            if !repo
                .compat()
                .repoint_refresh_token(old.id, successor.id, next.id)
                .await?
            {
                return Err(RefreshError::Invalid);
            }
            repo.compat()
                .withdraw_refresh_token(&successor, now)
                .await?;
        }
        RefreshDecision::Replay => {
            repo.compat().finish_session(&mut session, now).await?;
            repo.jobs()
                .push(clock, &Job::SyncDevices { user_id: user.id })
                .await?;
            repo.save().await?;
            return Err(RefreshError::Replayed);
        }
    }
    repo.compat()
        .expire_access_token(old.access_token_id, now)
        .await?;
    let access = CompatAccessToken {
        id: next.access_token_id,
        session_id: session.id,
        created_at: now,
        expires_at: Some(now + ttl),
        first_used_at: None,
    };
    repo.compat()
        .add_access_token(&access, &access_token)
        .await?;
    repo.compat()
        .add_refresh_token(&next, &refresh_token)
        .await?;
    repo.save().await?;
    Ok((
        StartedSession {
            session,
            access_token,
            refresh_token: Some(refresh_token),
            expires_in: Some(ttl),
        },
        user,
    ))
}

/// Finish one session and queue the device sync that removes its device from Synapse.
/// Finishing a finished session changes nothing; `None` when there is no such session.
pub async fn finish(
    store: &Store,
    clock: &dyn Clock,
    session_id: ulid::Ulid,
) -> Result<Option<CompatSession>, StoreError> {
    let mut repo = store.repo().await?;
    let Some(mut session) = repo.compat().find_session(session_id).await? else {
        return Ok(None);
    };
    if session.is_finished() {
        return Ok(Some(session));
    }
    repo.compat()
        .finish_session(&mut session, clock.now())
        .await?;
    repo.jobs()
        .push(
            clock,
            &Job::SyncDevices {
                user_id: session.user_id,
            },
        )
        .await?;
    repo.save().await?;
    Ok(Some(session))
}

/// Finish every compat session of a user and queue a device sync; returns how many.
pub async fn finish_all(
    store: &Store,
    clock: &dyn Clock,
    user_id: ulid::Ulid,
) -> Result<u64, StoreError> {
    let mut repo = store.repo().await?;
    let finished = repo
        .compat()
        .finish_all_sessions(user_id, clock.now())
        .await?;
    repo.jobs()
        .push(clock, &Job::SyncDevices { user_id })
        .await?;
    repo.save().await?;
    Ok(finished)
}

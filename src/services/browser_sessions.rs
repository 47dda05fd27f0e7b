//! Browser sessions over their life: start one when a person signs in on Gatehouse's pages,
//! find the one a cookie names (only while it is open: not finished, not past its lifetime or
//! idle timeout, its user active), record its use, end it at sign-out.

use ulid::Ulid;

use crate::{
    domain::{
        Clock,
        browser_sessions::{BrowserSession, BrowserSessionLimits},
        ids::new_id,
        users::User,
    },
    store::{Store, StoreError},
};

/// Start a session for `user` (whose credentials were just proven).
pub async fn start(
    store: &Store,
    clock: &dyn Clock,
    user: &User,
    user_agent: Option<String>,
    ip: Option<String>,
) -> Result<BrowserSession, StoreError> {
    let now = clock.now();
    let session = BrowserSession {
        id: new_id(clock),
        user_id: user.id,
        created_at: now,
        finished_at: None,
        user_agent,
        last_active_at: Some(now),
        last_active_ip: ip,
    };
    let mut repo = store.repo().await?;
    repo.browser_sessions().add(&session).await?;
    repo.save().await?;
    Ok(session)
}

/// The session `id` and its user, if the session still signs its browser in, recording its use
/// (at most once a minute: see `ACTIVITY_GRANULARITY`).
pub async fn open_session(
    store: &Store,
    clock: &dyn Clock,
    limits: &BrowserSessionLimits,
    id: Ulid,
    ip: Option<String>,
) -> Result<Option<(BrowserSession, User)>, StoreError> {
    let now = clock.now();
    let (session, user) = {
        let mut reader = store.reader().await?;
        let Some(session) = reader.browser_sessions().find(id).await? else {
            return Ok(None);
        };
        if !session.is_open(now, limits) {
            return Ok(None);
        }
        let Some(user) = reader.users().find_by_id(session.user_id).await? else {
            return Ok(None);
        };
        (session, user)
    };
    if !user.is_active() {
        return Ok(None);
    }
    if session.activity_is_stale(now) {
        let mut repo = store.repo().await?;
        repo.browser_sessions()
            .record_activity(session.id, now, ip.as_deref())
            .await?;
        repo.save().await?;
    }
    Ok(Some((session, user)))
}

/// Whether the session `id` is open now, without recording anything.
pub async fn is_open(
    store: &Store,
    clock: &dyn Clock,
    limits: &BrowserSessionLimits,
    id: Ulid,
) -> Result<bool, StoreError> {
    let session = store.reader().await?.browser_sessions().find(id).await?;
    Ok(session.is_some_and(|session| session.is_open(clock.now(), limits)))
}

/// End the session (sign-out). Ending an ended session changes nothing.
pub async fn finish(store: &Store, clock: &dyn Clock, id: Ulid) -> Result<(), StoreError> {
    let mut repo = store.repo().await?;
    repo.browser_sessions().finish(id, clock.now()).await?;
    repo.save().await
}

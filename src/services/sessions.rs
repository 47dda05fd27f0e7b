//! Ending a user's sessions, of every kind, in one unit of work: compatibility sessions (legacy
//! `/login` devices), OAuth 2.0 sessions, browser sessions on Gatehouse's pages and, when the
//! account itself goes away, personal sessions. Every access token those sessions issued stops
//! working at commit, in every process sharing the database (see `store::invalidations`), and
//! a device sync removes their devices from the homeserver.

use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::{
    domain::{Clock, compat::CompatSession, jobs::Job},
    store::{Reader, Repo, StoreError},
};

/// Which sessions [`end_all`] ends: MAS's `kill-sessions` leaves personal sessions (scripts an
/// admin made) alone; deactivating the account ends them too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kinds {
    /// Compat, OAuth 2.0 and browser sessions.
    SignedIn,
    /// Those, and the personal sessions acting as or made by the user.
    All,
}

/// The sessions that were (or, for a dry run, would be) ended.
#[derive(Debug, Clone, Default)]
pub struct EndedSessions {
    pub compat: Vec<CompatSession>,
    pub oauth2: Vec<Ulid>,
    pub browser: Vec<Ulid>,
    pub personal: Vec<Ulid>,
}

impl EndedSessions {
    pub fn total(&self) -> usize {
        self.compat.len() + self.oauth2.len() + self.browser.len() + self.personal.len()
    }
}

/// The user's open sessions in `scope`, without ending anything.
pub async fn open_sessions(
    reader: &mut Reader,
    user_id: Ulid,
    kinds: Kinds,
) -> Result<EndedSessions, StoreError> {
    let mut found = EndedSessions {
        compat: reader.compat().active_sessions(user_id).await?,
        oauth2: ids(
            reader.oauth2_sessions().active_sessions(user_id).await?,
            |s| s.id,
        ),
        browser: ids(
            reader.browser_sessions().active_sessions(user_id).await?,
            |s| s.id,
        ),
        personal: Vec::new(),
    };
    if kinds == Kinds::All {
        found.personal = ids(
            reader.personal().active_sessions_of_user(user_id).await?,
            |s| s.id,
        );
    }
    Ok(found)
}

/// End every open session of the user in `scope`, inside `repo`'s unit of work, and queue the
/// device sync that removes their devices from the homeserver.
pub async fn end_all(
    repo: &mut Repo,
    clock: &dyn Clock,
    user_id: Ulid,
    kinds: Kinds,
) -> Result<EndedSessions, StoreError> {
    let now: DateTime<Utc> = clock.now();
    let compat = repo.compat().active_sessions(user_id).await?;
    repo.compat().finish_all_sessions(user_id, now).await?;
    let oauth2 = ids(
        repo.oauth2_sessions().active_sessions(user_id).await?,
        |s| s.id,
    );
    repo.oauth2_sessions().finish_all(user_id, now).await?;
    let browser = ids(
        repo.browser_sessions().active_sessions(user_id).await?,
        |s| s.id,
    );
    repo.browser_sessions().finish_all(user_id, now).await?;
    let mut personal = Vec::new();
    if kinds == Kinds::All {
        for mut session in repo.personal().active_sessions_of_user(user_id).await? {
            repo.personal().revoke_session(&mut session, now).await?;
            personal.push(session.id);
        }
    }
    repo.jobs()
        .push(clock, &Job::SyncDevices { user_id })
        .await?;
    Ok(EndedSessions {
        compat,
        oauth2,
        browser,
        personal,
    })
}

fn ids<T>(items: Vec<T>, id: impl Fn(&T) -> Ulid) -> Vec<Ulid> {
    items.iter().map(id).collect()
}

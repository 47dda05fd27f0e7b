//! Compat SSO (`m.login.sso` for legacy clients): the client sends the browser to
//! `/login/sso/redirect?redirectUrl=…`; the person signs in to Gatehouse and confirms; the
//! browser returns to `redirectUrl?loginToken=…`; the client exchanges the token with
//! `m.login.token` once, within 30 seconds of the confirmation.

use chrono::Duration;
use rand::Rng;
use ulid::Ulid;

use crate::{
    domain::{
        Clock, browser_sessions::BrowserSessionLimits, ids::new_id, tokens::random_alphanumeric,
        users::User,
    },
    store::{Store, StoreError, compat_sso::CompatSsoLogin},
};

/// How long after the confirmation the login token may be exchanged.
pub const EXCHANGE_WINDOW: Duration = Duration::seconds(30);
/// How long a started SSO login waits for the person to confirm.
pub const CONFIRM_WINDOW: Duration = Duration::minutes(30);

pub async fn start(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut impl Rng,
    redirect_uri: &str,
) -> Result<CompatSsoLogin, StoreError> {
    let login = CompatSsoLogin {
        id: new_id(clock),
        redirect_uri: redirect_uri.to_owned(),
        user_session_id: None,
        created_at: clock.now(),
        fulfilled_at: None,
        exchanged_at: None,
    };
    let mut repo = store.repo().await?;
    repo.compat_sso()
        .add(&login, &random_alphanumeric(rng, 64))
        .await?;
    repo.save().await?;
    Ok(login)
}

/// Confirm the login for a browser session; returns the login token to hand to the client,
/// or `None` if the login is unknown, already confirmed or too old.
pub async fn fulfil(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut impl Rng,
    id: Ulid,
    user_session_id: Ulid,
) -> Result<Option<(CompatSsoLogin, String)>, StoreError> {
    let login_token = random_alphanumeric(rng, 32);
    let mut repo = store.repo().await?;
    let Some(login) = repo.compat_sso().find(id).await? else {
        return Ok(None);
    };
    if clock.now() - login.created_at > CONFIRM_WINDOW {
        return Ok(None);
    }
    if !repo
        .compat_sso()
        .fulfil(id, user_session_id, &login_token, clock.now())
        .await?
    {
        return Ok(None);
    }
    repo.save().await?;
    Ok(Some((login, login_token)))
}

/// Exchange a login token for the user it was confirmed by (and the login's id): once, within the window, and only
/// while the browser session that confirmed it is still open (a sign-out, an expired session or
/// ending the user's sessions in between makes the token worthless).
pub async fn exchange(
    store: &Store,
    clock: &dyn Clock,
    limits: &BrowserSessionLimits,
    login_token: &str,
) -> Result<Option<(User, Ulid)>, StoreError> {
    let now = clock.now();
    let mut repo = store.repo().await?;
    let Some(login) = repo.compat_sso().find_by_token(login_token).await? else {
        return Ok(None);
    };
    let (Some(fulfilled_at), Some(user_session_id)) = (login.fulfilled_at, login.user_session_id)
    else {
        return Ok(None);
    };
    if now - fulfilled_at > EXCHANGE_WINDOW
        || !repo.compat_sso().mark_exchanged(login.id, now).await?
    {
        return Ok(None);
    }
    let Some(browser) = repo.browser_sessions().find(user_session_id).await? else {
        return Ok(None);
    };
    if !browser.is_open(now, limits) {
        // Keep it exchanged: a closed session's token must not be tried again.
        repo.save().await?;
        return Ok(None);
    }
    let user = repo.users().find_by_id(browser.user_id).await?;
    repo.save().await?;
    Ok(user.map(|user| (user, login.id)))
}

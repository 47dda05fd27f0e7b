//! Account operations shared by the CLI (`manage …`), the admin API and the web pages:
//! registering users, passwords, emails, locking, killing sessions, issuing compat tokens. Each
//! one checks its rules, writes in one transaction and queues the homeserver work it causes.

use rand::Rng;

use crate::{
    crypto::passwords::{PasswordError, PasswordHasher},
    domain::{
        Clock,
        compat::{CompatAccessToken, CompatSession, generate_device_id, is_valid_device_id},
        emails::{InvalidEmail, UserEmail, validate_email},
        ids::new_id,
        jobs::Job,
        personal::{PersonalAccessToken, PersonalSession},
        redact::RedactedOption,
        scopes::Scope,
        tokens::TokenType,
        users::{User, UsernameError, validate_username},
    },
    services::sessions::{self, EndedSessions, Kinds},
    store::{Repo, Store, StoreError, passwords::UserPassword},
};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("no user named {0:?}")]
    UnknownUser(String),
    #[error("user ID {0} not found")]
    UnknownUserId(ulid::Ulid),
    #[error("the username {0:?} is already taken")]
    UsernameTaken(String),
    #[error("invalid username: {0}")]
    InvalidUsername(#[from] UsernameError),
    #[error(transparent)]
    InvalidEmail(#[from] InvalidEmail),
    #[error("user email ID {0} not found")]
    UnknownEmail(ulid::Ulid),
    #[error("compatibility session ID {0} not found")]
    UnknownCompatSession(ulid::Ulid),
    #[error("{0:?} is already an email address of this user")]
    DuplicateEmail(String),
    #[error("invalid device ID {0:?}: it must be 1 to 255 characters without control characters")]
    InvalidDeviceId(String),
    #[error(transparent)]
    InvalidScope(#[from] crate::domain::scopes::InvalidScope),
    #[error("a personal session needs at least one scope")]
    NoScope,
    #[error("{0:?} may not request admin scopes (promote it with `manage promote-admin` first)")]
    AdminScopeNotAllowed(String),
    /// Wrong password, or no password at all: callers must not tell these apart to clients.
    #[error("wrong password")]
    WrongPassword,
    #[error(transparent)]
    Password(PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PasswordError> for AccountError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::Mismatch => AccountError::WrongPassword,
            other => AccountError::Password(other),
        }
    }
}

/// What `register_user` needs to know.
#[derive(Clone, Default)]
pub struct Registration {
    pub username: String,
    pub password: Option<String>,
    pub emails: Vec<String>,
    pub admin: bool,
    /// Sent to the homeserver with the provisioning (Gatehouse does not store profiles).
    pub display_name: Option<String>,
    /// Enforce `passwords.minimum_complexity` (the CLI can skip it).
    pub check_complexity: bool,
}

impl std::fmt::Debug for Registration {
    // The password stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("username", &self.username)
            .field("password", &RedactedOption(&self.password))
            .field("emails", &self.emails)
            .field("admin", &self.admin)
            .field("display_name", &self.display_name)
            .field("check_complexity", &self.check_complexity)
            .finish()
    }
}

/// The user named `username` (a localpart), for the surfaces that name users that way (the
/// CLI, Synapse's admin API).
pub async fn find_user(store: &Store, username: &str) -> Result<User, AccountError> {
    store
        .reader()
        .await?
        .users()
        .find_by_username(username)
        .await?
        .ok_or_else(|| AccountError::UnknownUser(username.to_owned()))
}

/// The user with this id, read inside the unit of work that changes it.
async fn user_in(repo: &mut Repo, user_id: ulid::Ulid) -> Result<User, AccountError> {
    repo.users()
        .find_by_id(user_id)
        .await?
        .ok_or(AccountError::UnknownUserId(user_id))
}

/// Create a user with an optional password and verified emails, and queue its provisioning
/// in the homeserver.
pub async fn register_user(
    store: &Store,
    clock: &dyn Clock,
    passwords: &PasswordHasher,
    registration: Registration,
) -> Result<User, AccountError> {
    validate_username(&registration.username)?;
    for email in &registration.emails {
        validate_email(email)?;
    }
    // Hash before taking the write transaction: hashing takes tens of milliseconds.
    let hashed = match &registration.password {
        Some(password) => {
            if registration.check_complexity {
                passwords.check_complexity(password, &[&registration.username])?;
            }
            Some(passwords.hash(password).await?)
        }
        None => None,
    };
    register_user_with_hash(store, clock, registration, hashed).await
}

/// Register a user whose password is already hashed (`(scheme version, hash)`, e.g. imported
/// from another server); `registration.password` is ignored.
pub async fn register_user_with_hash(
    store: &Store,
    clock: &dyn Clock,
    registration: Registration,
    hashed: Option<(u16, String)>,
) -> Result<User, AccountError> {
    validate_username(&registration.username)?;
    for email in &registration.emails {
        validate_email(email)?;
    }
    let mut repo = store.repo().await?;
    if repo
        .users()
        .find_by_username(&registration.username)
        .await?
        .is_some()
    {
        return Err(AccountError::UsernameTaken(registration.username));
    }
    let user = User {
        id: new_id(clock),
        username: registration.username.clone(),
        created_at: clock.now(),
        locked_at: None,
        deactivated_at: None,
        can_request_admin: registration.admin,
        is_guest: false,
    };
    repo.users().add(&user).await.map_err(|error| match error {
        StoreError::Conflict(_) => AccountError::UsernameTaken(registration.username.clone()),
        other => other.into(),
    })?;
    if let Some((version, hashed_password)) = hashed {
        repo.passwords()
            .add(&UserPassword {
                id: new_id(clock),
                user_id: user.id,
                hashed_password,
                version,
                upgraded_from_id: None,
                created_at: clock.now(),
            })
            .await?;
    }
    for email in &registration.emails {
        add_email_in(&mut repo, clock, &user, email).await?;
    }
    let provision = Job::ProvisionUser {
        user_id: user.id,
        set_displayname: registration.display_name.clone(),
    };
    repo.jobs().push(clock, &provision).await?;
    repo.save().await?;
    Ok(user)
}

/// Replace the user's password (a new row; older rows stay for the record).
pub async fn set_password(
    store: &Store,
    clock: &dyn Clock,
    passwords: &PasswordHasher,
    user: &User,
    password: &str,
    check_complexity: bool,
) -> Result<User, AccountError> {
    if check_complexity {
        passwords.check_complexity(password, &[&user.username])?;
    }
    let (version, hashed_password) = passwords.hash(password).await?;
    let mut repo = store.repo().await?;
    let user = user_in(&mut repo, user.id).await?;
    repo.passwords()
        .add(&UserPassword {
            id: new_id(clock),
            user_id: user.id,
            hashed_password,
            version,
            upgraded_from_id: None,
            created_at: clock.now(),
        })
        .await?;
    repo.save().await?;
    Ok(user)
}

async fn add_email_in(
    repo: &mut Repo,
    clock: &dyn Clock,
    user: &User,
    email: &str,
) -> Result<UserEmail, AccountError> {
    validate_email(email)?;
    let user_email = UserEmail {
        id: new_id(clock),
        user_id: user.id,
        email: email.to_owned(),
        created_at: clock.now(),
    };
    repo.emails()
        .add(&user_email)
        .await
        .map_err(|error| match error {
            StoreError::Conflict(_) => AccountError::DuplicateEmail(email.to_owned()),
            other => other.into(),
        })?;
    Ok(user_email)
}

/// Attach a (verified) email address and queue the homeserver update.
pub async fn add_email(
    store: &Store,
    clock: &dyn Clock,
    user_id: ulid::Ulid,
    email: &str,
) -> Result<UserEmail, AccountError> {
    validate_email(email)?;
    let mut repo = store.repo().await?;
    let user = user_in(&mut repo, user_id).await?;
    let added = add_email_in(&mut repo, clock, &user, email).await?;
    repo.jobs().push(clock, &Job::provision(user.id)).await?;
    repo.save().await?;
    Ok(added)
}

/// Detach an address and queue the homeserver update.
pub async fn remove_email(
    store: &Store,
    clock: &dyn Clock,
    id: ulid::Ulid,
) -> Result<UserEmail, AccountError> {
    let mut repo = store.repo().await?;
    let email = repo
        .emails()
        .find(id)
        .await?
        .ok_or(AccountError::UnknownEmail(id))?;
    repo.emails().remove(id).await?;
    repo.jobs()
        .push(clock, &Job::provision(email.user_id))
        .await?;
    repo.save().await?;
    Ok(email)
}

/// End one compatibility session (its device goes away in the homeserver). Finishing a
/// finished session changes nothing.
pub async fn finish_compat_session(
    store: &Store,
    clock: &dyn Clock,
    id: ulid::Ulid,
) -> Result<CompatSession, AccountError> {
    crate::services::compat_sessions::finish(store, clock, id)
        .await?
        .ok_or(AccountError::UnknownCompatSession(id))
}

/// Set (`Some`) or clear (`None`, sent as an empty name) the user's display name in the
/// homeserver. Gatehouse keeps no profile: the provisioning job carries the name.
pub async fn set_display_name(
    store: &Store,
    clock: &dyn Clock,
    user_id: ulid::Ulid,
    display_name: Option<String>,
) -> Result<User, AccountError> {
    let mut repo = store.repo().await?;
    let user = user_in(&mut repo, user_id).await?;
    repo.jobs()
        .push(
            clock,
            &Job::ProvisionUser {
                user_id: user.id,
                set_displayname: Some(display_name.unwrap_or_default()),
            },
        )
        .await?;
    repo.save().await?;
    Ok(user)
}

/// Allow or stop the user requesting admin scopes. Demoting takes effect on the tokens the user
/// already holds at once (see `access::effective_scope`).
pub async fn set_admin(
    store: &Store,
    user_id: ulid::Ulid,
    admin: bool,
) -> Result<User, AccountError> {
    let mut repo = store.repo().await?;
    let mut user = user_in(&mut repo, user_id).await?;
    repo.users().set_can_request_admin(&mut user, admin).await?;
    repo.save().await?;
    Ok(user)
}

/// Lock the user (tokens stop working at once) and tell the homeserver; with `deactivate`, also
/// queue the deactivation in the homeserver.
pub async fn lock_user(
    store: &Store,
    clock: &dyn Clock,
    user_id: ulid::Ulid,
    deactivate: bool,
) -> Result<User, AccountError> {
    lock_and_maybe_deactivate(store, clock, user_id, deactivate.then_some(false)).await
}

/// Deactivate the user: lock it, end every session (personal ones too, as MAS does), and queue
/// the deactivation in the homeserver (with GDPR erasure when `hs_erase`).
pub async fn deactivate_user(
    store: &Store,
    clock: &dyn Clock,
    user_id: ulid::Ulid,
    hs_erase: bool,
) -> Result<User, AccountError> {
    lock_and_maybe_deactivate(store, clock, user_id, Some(hs_erase)).await
}

/// `deactivate`: `None` to only lock, `Some(hs_erase)` to deactivate too.
async fn lock_and_maybe_deactivate(
    store: &Store,
    clock: &dyn Clock,
    user_id: ulid::Ulid,
    deactivate: Option<bool>,
) -> Result<User, AccountError> {
    let mut repo = store.repo().await?;
    let mut user = user_in(&mut repo, user_id).await?;
    repo.users().lock(&mut user, clock.now()).await?;
    repo.jobs().push(clock, &Job::provision(user.id)).await?;
    if let Some(hs_erase) = deactivate {
        repo.users().deactivate(&mut user, clock.now()).await?;
        sessions::end_all(&mut repo, clock, user.id, Kinds::All).await?;
        repo.jobs()
            .push(
                clock,
                &Job::DeactivateUser {
                    user_id: user.id,
                    hs_erase,
                },
            )
            .await?;
    }
    repo.save().await?;
    Ok(user)
}

/// Reactivate a deactivated user, in the homeserver too. It stays locked if it was: unlocking
/// is a separate decision (as in MAS).
pub async fn reactivate_user(
    store: &Store,
    clock: &dyn Clock,
    user_id: ulid::Ulid,
) -> Result<User, AccountError> {
    let mut repo = store.repo().await?;
    let mut user = user_in(&mut repo, user_id).await?;
    if user.deactivated_at.is_some() {
        repo.users().reactivate(&mut user).await?;
        repo.jobs()
            .push(clock, &Job::ReactivateUser { user_id: user.id })
            .await?;
        repo.save().await?;
    }
    Ok(user)
}

/// Unlock the user; with `reactivate`, also reactivate a deactivated user.
pub async fn unlock_user(
    store: &Store,
    clock: &dyn Clock,
    user_id: ulid::Ulid,
    reactivate: bool,
) -> Result<User, AccountError> {
    let mut repo = store.repo().await?;
    let mut user = user_in(&mut repo, user_id).await?;
    repo.users().unlock(&mut user).await?;
    if reactivate && user.deactivated_at.is_some() {
        repo.users().reactivate(&mut user).await?;
        repo.jobs()
            .push(clock, &Job::ReactivateUser { user_id: user.id })
            .await?;
    }
    repo.jobs().push(clock, &Job::provision(user.id)).await?;
    repo.save().await?;
    Ok(user)
}

/// End every compat, OAuth 2.0 and browser session of the user (MAS's `kill-sessions`; personal
/// sessions stay) and queue a device sync. With `dry_run`, only list them.
pub async fn kill_sessions(
    store: &Store,
    clock: &dyn Clock,
    user_id: ulid::Ulid,
    dry_run: bool,
) -> Result<EndedSessions, AccountError> {
    if dry_run {
        let mut reader = store.reader().await?;
        if reader.users().find_by_id(user_id).await?.is_none() {
            return Err(AccountError::UnknownUserId(user_id));
        }
        return Ok(sessions::open_sessions(&mut reader, user_id, Kinds::SignedIn).await?);
    }
    let mut repo = store.repo().await?;
    let user = user_in(&mut repo, user_id).await?;
    let ended = sessions::end_all(&mut repo, clock, user.id, Kinds::SignedIn).await?;
    repo.save().await?;
    Ok(ended)
}

/// A new compat session with a non-expiring `mct_` token, for admins and scripts.
#[derive(Clone)]
pub struct IssuedCompatToken {
    pub session: CompatSession,
    pub access_token: String,
}

pub async fn issue_compat_token(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    user_id: ulid::Ulid,
    device_id: Option<String>,
    synapse_admin: bool,
) -> Result<IssuedCompatToken, AccountError> {
    let device_id = match device_id {
        Some(device_id) if !is_valid_device_id(&device_id) => {
            return Err(AccountError::InvalidDeviceId(device_id));
        }
        Some(device_id) => device_id,
        None => generate_device_id(rng),
    };
    let access_token = TokenType::CompatAccessToken.generate(rng);
    let mut repo = store.repo().await?;
    let user = user_in(&mut repo, user_id).await?;
    if synapse_admin && !user.can_request_admin {
        return Err(AccountError::AdminScopeNotAllowed(user.username));
    }
    let session = CompatSession {
        id: new_id(clock),
        user_id: user.id,
        device_id: Some(device_id),
        human_name: None,
        created_at: clock.now(),
        finished_at: None,
        is_synapse_admin: synapse_admin,
        last_active_at: None,
        last_active_ip: None,
        user_agent: None,
        redirect_uri: None,
    };
    repo.compat().add_session(&session).await?;
    repo.compat()
        .add_access_token(
            &CompatAccessToken {
                id: new_id(clock),
                session_id: session.id,
                created_at: clock.now(),
                expires_at: None,
                first_used_at: None,
            },
            &access_token,
        )
        .await?;
    // The device must exist in the homeserver before the token is usable there.
    repo.jobs()
        .push(clock, &Job::SyncDevices { user_id: user.id })
        .await?;
    repo.save().await?;
    Ok(IssuedCompatToken {
        session,
        access_token,
    })
}

/// A new personal session and its `mpt_` token (shown once; only its digest is stored).
#[derive(Clone)]
pub struct IssuedPersonalToken {
    pub session: PersonalSession,
    pub token: PersonalAccessToken,
    pub access_token: String,
}

/// What a new personal session is for.
#[derive(Debug, Clone)]
pub struct PersonalTokenRequest {
    /// The user the token acts as.
    pub actor_user_id: ulid::Ulid,
    /// Who made it: a user (an admin) or `None` for the actor itself.
    pub owner_user_id: Option<ulid::Ulid>,
    pub human_name: String,
    pub scope: Scope,
    pub expires_in: Option<chrono::Duration>,
}

/// A personal session needs some scope; admin scopes need a user who may request them.
fn check_scope(scope: &Scope, actor: &User) -> Result<(), AccountError> {
    use crate::domain::scopes::{MAS_ADMIN, SYNAPSE_ADMIN};
    if scope.is_empty() {
        return Err(AccountError::NoScope);
    }
    if (scope.contains(MAS_ADMIN) || scope.contains(SYNAPSE_ADMIN)) && !actor.can_request_admin {
        return Err(AccountError::AdminScopeNotAllowed(actor.username.clone()));
    }
    Ok(())
}

/// Create a personal session for scripts and admin tooling, with its first token. Admin scopes
/// (`urn:mas:admin`, `urn:synapse:admin:*`) need a user who may request admin scopes.
pub async fn issue_personal_token(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    request: PersonalTokenRequest,
) -> Result<IssuedPersonalToken, AccountError> {
    let access_token = TokenType::PersonalAccessToken.generate(rng);
    let mut repo = store.repo().await?;
    let actor = user_in(&mut repo, request.actor_user_id).await?;
    check_scope(&request.scope, &actor)?;
    let session = PersonalSession {
        id: new_id(clock),
        owner_user_id: Some(request.owner_user_id.unwrap_or(actor.id)),
        owner_client_id: None,
        actor_user_id: actor.id,
        human_name: request.human_name,
        scope: request.scope,
        created_at: clock.now(),
        revoked_at: None,
        last_active_at: None,
        last_active_ip: None,
    };
    repo.personal().add_session(&session).await?;
    let token = PersonalAccessToken {
        id: new_id(clock),
        session_id: session.id,
        created_at: clock.now(),
        expires_at: request.expires_in.map(|ttl| clock.now() + ttl),
        revoked_at: None,
    };
    repo.personal().add_token(&token, &access_token).await?;
    repo.save().await?;
    Ok(IssuedPersonalToken {
        session,
        token,
        access_token,
    })
}

/// A new token for a personal session, revoking its current one. `Ok(None)` when the session
/// does not exist or is revoked.
pub async fn regenerate_personal_token(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    session_id: ulid::Ulid,
    expires_in: Option<chrono::Duration>,
) -> Result<Option<IssuedPersonalToken>, AccountError> {
    let access_token = TokenType::PersonalAccessToken.generate(rng);
    let mut repo = store.repo().await?;
    let Some(session) = repo.personal().find_session(session_id).await? else {
        return Ok(None);
    };
    if session.revoked_at.is_some() {
        return Ok(None);
    }
    let token = PersonalAccessToken {
        id: new_id(clock),
        session_id: session.id,
        created_at: clock.now(),
        expires_at: expires_in.map(|ttl| clock.now() + ttl),
        revoked_at: None,
    };
    repo.personal().add_token(&token, &access_token).await?;
    repo.save().await?;
    Ok(Some(IssuedPersonalToken {
        session,
        token,
        access_token,
    }))
}

/// A registration token expiring at an instant (the admin API's form of
/// `issue_registration_token`).
pub async fn create_registration_token(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    token: Option<String>,
    usage_limit: Option<u32>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<crate::domain::registration_tokens::RegistrationToken, AccountError> {
    use crate::domain::{registration_tokens::RegistrationToken, tokens::random_alphanumeric};
    let token = token.unwrap_or_else(|| random_alphanumeric(rng, 20));
    let registration_token = RegistrationToken {
        id: new_id(clock),
        token,
        usage_limit,
        times_used: 0,
        created_at: clock.now(),
        last_used_at: None,
        expires_at,
        revoked_at: None,
    };
    let mut repo = store.repo().await?;
    repo.registration_tokens().add(&registration_token).await?;
    repo.save().await?;
    Ok(registration_token)
}

/// A registration token: `token` or 20 random characters; `usage_limit` `None` = unlimited.
pub async fn issue_registration_token(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    token: Option<String>,
    usage_limit: Option<u32>,
    expires_in: Option<chrono::Duration>,
) -> Result<crate::domain::registration_tokens::RegistrationToken, AccountError> {
    use crate::domain::{registration_tokens::RegistrationToken, tokens::random_alphanumeric};
    let token = token.unwrap_or_else(|| random_alphanumeric(rng, 20));
    let registration_token = RegistrationToken {
        id: new_id(clock),
        token,
        usage_limit,
        times_used: 0,
        created_at: clock.now(),
        last_used_at: None,
        expires_at: expires_in.map(|ttl| clock.now() + ttl),
        revoked_at: None,
    };
    let mut repo = store.repo().await?;
    repo.registration_tokens().add(&registration_token).await?;
    repo.save().await?;
    Ok(registration_token)
}

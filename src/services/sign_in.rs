//! Password sign-in, the one path every surface takes: compat `m.login.password`, the `/login`
//! page and (for OAuth 2.0 clients) `/authorize`. Each maps [`LoginError`] to its own wire
//! format. In order: the rate limits, the lookup, the verification (rehashing an old scheme's
//! hash), then whether the account may sign in at all.
//!
//! Every failure costs the same time, that of a wrong password under the slowest configured
//! scheme, so timing does not tell which usernames exist or which scheme a user's hash is in.
//! Whether an account is locked, deactivated or a guest is only said once its password is
//! proven.

use std::{
    collections::HashSet,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use ulid::Ulid;

use crate::{
    config::RateLimitingConfig,
    crypto::passwords::{PasswordError, PasswordHasher},
    domain::{
        Clock,
        ids::new_id,
        users::{User, localpart_from_identifier},
    },
    services::rate_limit::{ClientKey, RateLimiter},
    store::{Store, StoreError, passwords::UserPassword},
};

/// Why a sign-in failed. Surfaces tell the caller only what the variant's doc allows.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// `passwords.enabled` is false.
    #[error("password sign-in is disabled")]
    PasswordsDisabled,
    /// Too many attempts from this address or for this account; try again after the wait.
    #[error("too many attempts")]
    RateLimited { retry_after: Duration },
    /// Unknown user, no password, or a wrong one: never tell these apart to the caller.
    #[error("wrong username or password")]
    WrongCredentials,
    /// The password was right, but the account is deactivated.
    #[error("the account is deactivated")]
    Deactivated,
    /// The password was right, but the account is locked.
    #[error("the account is locked")]
    Locked,
    /// The password was right, but guest accounts cannot sign in.
    #[error("guest accounts cannot sign in")]
    Guest,
    /// The database or the hashing threads failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hashing(PasswordError),
}

/// The rate limiters of `rate_limiting.login`.
pub struct LoginLimits {
    per_ip: RateLimiter<ClientKey>,
    per_account: RateLimiter<String>,
}

impl LoginLimits {
    pub fn new(config: &RateLimitingConfig) -> Self {
        Self {
            per_ip: RateLimiter::new(&config.login.per_ip),
            per_account: RateLimiter::new(&config.login.per_account),
        }
    }
}

/// The longest identifier worth looking up: a Matrix user ID, `@`, server name and all, is at
/// most 255 bytes (Matrix spec, "User Identifiers"), and a bare localpart is shorter still.
/// Longer input can name no account.
pub const MAX_IDENTIFIER_LENGTH: usize = 255;
/// Users whose stored hash was refused are logged once each (per process), not per attempt.
const MAX_LOGGED_BAD_HASHES: usize = 10_000;

/// What a password sign-in needs. Built once per server.
pub struct PasswordSignIn {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
    pub limits: LoginLimits,
    /// `passwords.enabled`.
    pub enabled: bool,
    logged_bad_hashes: Mutex<HashSet<Ulid>>,
}

impl PasswordSignIn {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        hasher: PasswordHasher,
        limits: LoginLimits,
        enabled: bool,
    ) -> Self {
        Self {
            store,
            clock,
            hasher,
            limits,
            enabled,
            logged_bad_hashes: Mutex::new(HashSet::new()),
        }
    }

    /// Sign in with a username (or `@user:server`) and a password, from `ip` (`None`: a
    /// UNIX-socket client that named no address; those share one per-client bucket).
    pub async fn authenticate_password(
        &self,
        identifier: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<User, LoginError> {
        if !self.enabled {
            return Err(LoginError::PasswordsDisabled);
        }
        let now = Instant::now();
        self.limits
            .per_ip
            .check(&ClientKey::of(ip), now)
            .map_err(|retry_after| LoginError::RateLimited { retry_after })?;
        let identifier = identifier.trim();
        if identifier.len() > MAX_IDENTIFIER_LENGTH {
            // No account has such a name; it must not become a limiter key either.
            self.hasher.burn_slowest_verification().await;
            return Err(LoginError::WrongCredentials);
        }
        let localpart = localpart_from_identifier(identifier).to_lowercase();
        self.limits
            .per_account
            .check(&localpart, now)
            .map_err(|retry_after| LoginError::RateLimited { retry_after })?;

        let user = self
            .store
            .reader()
            .await?
            .users()
            .find_by_username(&localpart)
            .await?;
        let Some(user) = user else {
            self.hasher.burn_slowest_verification().await;
            return Err(LoginError::WrongCredentials);
        };
        match verify_password(
            &self.store,
            self.clock.as_ref(),
            &self.hasher,
            &user,
            password,
        )
        .await
        {
            Ok(()) => {}
            Err(VerifyError::NoPassword) => {
                self.hasher.burn_slowest_verification().await;
                return Err(LoginError::WrongCredentials);
            }
            Err(VerifyError::Wrong { spent }) => {
                self.hasher.pad_failure(spent).await;
                return Err(LoginError::WrongCredentials);
            }
            Err(VerifyError::Unusable(error)) => {
                self.log_bad_hash(&user, &error);
                self.hasher.burn_slowest_verification().await;
                return Err(LoginError::WrongCredentials);
            }
            Err(VerifyError::Store(error)) => return Err(error.into()),
            Err(VerifyError::Hashing(error)) => return Err(LoginError::Hashing(error)),
        }
        may_sign_in(&user)?;
        Ok(user)
    }

    fn log_bad_hash(&self, user: &User, error: &PasswordError) {
        let mut logged = self
            .logged_bad_hashes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if logged.len() < MAX_LOGGED_BAD_HASHES && logged.insert(user.id) {
            tracing::warn!(
                user = %user.username,
                %error,
                "this user's stored password hash cannot be used; their password sign-ins fail until an admin sets a new password"
            );
        }
    }
}

/// After the credentials are proven: deactivated, locked and guest accounts may not sign in.
pub fn may_sign_in(user: &User) -> Result<(), LoginError> {
    if user.deactivated_at.is_some() {
        return Err(LoginError::Deactivated);
    }
    if user.locked_at.is_some() {
        return Err(LoginError::Locked);
    }
    if user.is_guest {
        return Err(LoginError::Guest);
    }
    Ok(())
}

/// Why [`verify_password`] said no.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the user has no password")]
    NoPassword,
    /// The password does not match; the verification took `spent`.
    #[error("wrong password")]
    Wrong { spent: Duration },
    /// The stored hash is malformed, of an unconfigured scheme version, or asks for too much work.
    #[error(transparent)]
    Unusable(PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hashing(PasswordError),
}

/// Check a password against the user's current hash. When the hash was made by an older scheme,
/// the password is rehashed with the current one and stored as a new row that records what it
/// upgraded (MAS's `verify_and_upgrade`).
pub async fn verify_password(
    store: &Store,
    clock: &dyn Clock,
    hasher: &PasswordHasher,
    user: &User,
    password: &str,
) -> Result<(), VerifyError> {
    let current = store.reader().await?.passwords().active(user.id).await?;
    let Some(current) = current else {
        return Err(VerifyError::NoPassword);
    };
    let started = Instant::now();
    let upgraded = match hasher
        .verify_and_upgrade(current.version, &current.hashed_password, password)
        .await
    {
        Ok(upgraded) => upgraded,
        Err(PasswordError::Mismatch) => {
            return Err(VerifyError::Wrong {
                spent: started.elapsed(),
            });
        }
        Err(
            error @ (PasswordError::MalformedHash(_)
            | PasswordError::UnsafeParameters(_)
            | PasswordError::UnknownVersion(_)),
        ) => return Err(VerifyError::Unusable(error)),
        Err(error) => return Err(VerifyError::Hashing(error)),
    };
    if let Some((version, hashed_password)) = upgraded {
        let mut repo = store.repo().await?;
        repo.passwords()
            .add(&UserPassword {
                id: new_id(clock),
                user_id: user.id,
                hashed_password,
                version,
                upgraded_from_id: Some(current.id),
                created_at: clock.now(),
            })
            .await?;
        repo.save().await?;
    }
    Ok(())
}

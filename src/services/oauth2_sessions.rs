//! OAuth 2.0 grants and sessions over their life, under the endpoints: an authorization request
//! approved (a code) or declined, the code exchanged once for tokens, the device authorization
//! grant (RFC 8628), client credentials, refresh-token rotation, revocation (RFC 7009) and the
//! finishing of a session. Each operation is one unit of work; nothing here speaks HTTP (the
//! endpoints map [`GrantError`] to RFC 6749 error codes).

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use ulid::Ulid;

use crate::{
    crypto::successors::SuccessorKey,
    domain::{
        Clock,
        compat::RefreshDecision,
        ids::new_id,
        jobs::Job,
        oauth2_clients::{GrantType, OAuth2Client, TokenEndpointAuthMethod},
        oauth2_grants::{
            AuthorizationGrant, DeviceCodeGrant, GrantState, OAuth2AccessToken, OAuth2RefreshToken,
            PollOutcome, SLOW_DOWN_STEP, device_count, generate_code, generate_user_code,
            needs_consent, normalize_user_code,
        },
        oauth2_sessions::OAuth2Session,
        redact::{Redacted, RedactedOption},
        scopes::{MAS_ADMIN, SYNAPSE_ADMIN, Scope},
        tokens::TokenType,
        users::User,
    },
    store::{Repo, Store, StoreError, oauth2_sessions::OAuth2RefreshLookup},
};

/// Why a grant, a refresh or a token request was refused. Each maps to one RFC 6749 / RFC 8628
/// error code; the message is for the client's developer and carries no secret.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// Unknown, expired, used or foreign code or refresh token; wrong PKCE verifier; a
    /// redirect URI that differs from the authorization request's (`invalid_grant`).
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// A used authorization code came back: the session it started was ended
    /// (RFC 6749 §4.1.2, `invalid_grant`).
    #[error("the authorization code was already used; the session it started was ended")]
    CodeReplayed,
    /// A replaced refresh token came back after its successor was used: the session was ended
    /// (RFC 9700 §4.14.2, `invalid_grant`).
    #[error("the refresh token was already used; the session was ended")]
    RefreshReplayed,
    /// A parameter is missing or malformed (`invalid_request`).
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// The client may not use this grant type (`unauthorized_client`).
    #[error("this client may not use the {0} grant")]
    UnauthorizedClient(&'static str),
    /// The scope asked for is not allowed (`invalid_scope`).
    #[error("{0}")]
    InvalidScope(&'static str),
    /// RFC 8628 §3.5 `authorization_pending`.
    #[error("the user has not answered yet")]
    AuthorizationPending,
    /// RFC 8628 §3.5 `slow_down`.
    #[error("polling too fast; wait longer between polls")]
    SlowDown,
    /// RFC 8628 §3.5 `expired_token`.
    #[error("the device code expired")]
    ExpiredToken,
    /// The user declined (`access_denied`).
    #[error("the user declined the request")]
    AccessDenied,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a token request hands to the client.
#[derive(Clone)]
pub struct IssuedTokens {
    pub session: OAuth2Session,
    /// The session's user; `None` for client credentials.
    pub user: Option<User>,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Duration,
    /// For an authorization code: the grant it came from (its nonce goes into the ID token).
    pub grant: Option<AuthorizationGrant>,
}

impl std::fmt::Debug for IssuedTokens {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("session", &self.session)
            .field("user", &self.user)
            .field("access_token", &Redacted)
            .field("refresh_token", &RedactedOption(&self.refresh_token))
            .field("expires_in", &self.expires_in)
            .field("grant", &self.grant)
            .finish()
    }
}

/// An authorization request, as `/authorize` validated it against the client (redirect URI,
/// response type and mode, scope grammar, PKCE challenge form).
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub redirect_uri: String,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub response_mode: crate::domain::oauth2_grants::ResponseMode,
    pub response_type_id_token: bool,
    pub pkce: Option<crate::domain::oauth2_grants::Pkce>,
    pub login_hint: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
}

/// Whether a client cannot authenticate at the token endpoint (public) rather than can
/// (confidential). A client whose method was never said (RFC 7591 then means
/// `client_secret_basic`) is confidential only if it has a secret or keys to prove.
fn is_public(client: &OAuth2Client) -> bool {
    match client.token_endpoint_auth_method {
        Some(TokenEndpointAuthMethod::None) => true,
        Some(_) => false,
        None => {
            client.encrypted_client_secret.is_none()
                && client.jwks.is_none()
                && client.jwks_uri.is_none()
        }
    }
}

fn require_grant(client: &OAuth2Client, grant: GrantType) -> Result<(), GrantError> {
    if client.allows_grant(grant) {
        Ok(())
    } else {
        Err(GrantError::UnauthorizedClient(grant.as_str()))
    }
}

/// Rules every scope a session starts with obeys: one device at most (MAS's rule), and admin
/// scopes only for users who may request them.
fn check_scope_for(scope: &Scope, user: Option<&User>) -> Result<(), GrantError> {
    if device_count(scope) > 1 {
        return Err(GrantError::InvalidScope(
            "at most one device scope is allowed",
        ));
    }
    if let Some(user) = user
        && !user.can_request_admin
        && (scope.contains(SYNAPSE_ADMIN) || scope.contains(MAS_ADMIN))
    {
        return Err(GrantError::InvalidScope(
            "this account may not request admin scopes",
        ));
    }
    Ok(())
}

/// Record an authorization request (pending until the user answers). PKCE is required of
/// public clients (RFC 9700 §2.1.1).
pub async fn start_authorization(
    store: &Store,
    clock: &dyn Clock,
    client: &OAuth2Client,
    request: AuthorizationRequest,
) -> Result<AuthorizationGrant, GrantError> {
    require_grant(client, GrantType::AuthorizationCode)?;
    if is_public(client) && request.pkce.is_none() {
        return Err(GrantError::InvalidRequest(
            "public clients must send a PKCE code_challenge",
        ));
    }
    check_scope_for(&request.scope, None)?;
    let grant = AuthorizationGrant {
        id: new_id(clock),
        client_id: client.id,
        redirect_uri: request.redirect_uri,
        scope: request.scope,
        state: request.state,
        nonce: request.nonce,
        response_mode: request.response_mode,
        response_type_id_token: request.response_type_id_token,
        pkce: request.pkce,
        login_hint: request.login_hint,
        prompt: request.prompt,
        max_age: request.max_age,
        created_at: clock.now(),
        fulfilled_at: None,
        exchanged_at: None,
        cancelled_at: None,
        user_id: None,
        user_session_id: None,
        session_id: None,
    };
    let mut repo = store.repo().await?;
    repo.oauth2_grants().add(&grant).await?;
    repo.save().await?;
    Ok(grant)
}

/// Whether `user` must see the consent page for this grant: its scopes (device scopes aside)
/// are not all among those the user already consented to for the client.
pub async fn consent_needed(
    store: &Store,
    user: &User,
    grant: &AuthorizationGrant,
) -> Result<bool, StoreError> {
    let mut reader = store.reader().await?;
    let consented = reader
        .oauth2_grants()
        .consented_scope(user.id, grant.client_id)
        .await?;
    Ok(needs_consent(&grant.scope, &consented))
}

/// The user (signed in with `browser_session_id`) approves the pending grant `grant_id`: its
/// scope is remembered as consented, and the authorization code is returned (to be sent to the
/// redirect URI; it is stored only as a digest).
pub async fn fulfil_authorization(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    grant_id: Ulid,
    user: &User,
    browser_session_id: Option<Ulid>,
) -> Result<(AuthorizationGrant, String), GrantError> {
    if !user.is_active() {
        return Err(GrantError::AccessDenied);
    }
    let code = generate_code(rng);
    let now = clock.now();
    let mut repo = store.repo().await?;
    let Some(mut grant) = repo.oauth2_grants().find(grant_id).await? else {
        return Err(GrantError::InvalidGrant("unknown authorization request"));
    };
    check_scope_for(&grant.scope, Some(user))?;
    if !repo
        .oauth2_grants()
        .fulfil(&mut grant, &code, user.id, browser_session_id, now)
        .await?
    {
        return Err(GrantError::InvalidGrant(
            "the authorization request was already answered",
        ));
    }
    repo.oauth2_grants()
        .add_consent(user.id, grant.client_id, &grant.scope, clock)
        .await?;
    repo.save().await?;
    Ok((grant, code))
}

/// The user declines the pending grant: it is cancelled (the client gets `access_denied`).
pub async fn decline_authorization(
    store: &Store,
    clock: &dyn Clock,
    grant_id: Ulid,
) -> Result<AuthorizationGrant, GrantError> {
    let mut repo = store.repo().await?;
    let Some(mut grant) = repo.oauth2_grants().find(grant_id).await? else {
        return Err(GrantError::InvalidGrant("unknown authorization request"));
    };
    if !repo.oauth2_grants().cancel(&mut grant, clock.now()).await? {
        return Err(GrantError::InvalidGrant(
            "the authorization request was already answered",
        ));
    }
    repo.save().await?;
    Ok(grant)
}

/// The `authorization_code` grant (RFC 6749 §4.1.3), for an authenticated `client`.
#[derive(Debug, Clone, Copy)]
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// Exchange an authorization code, once, for a new session and its tokens. A code presented
/// again is refused and the session it started is ended (RFC 6749 §4.1.2).
pub async fn exchange_code(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    client: &OAuth2Client,
    exchange: CodeExchange<'_>,
    access_ttl: Duration,
) -> Result<IssuedTokens, GrantError> {
    require_grant(client, GrantType::AuthorizationCode)?;
    let now = clock.now();
    let mut repo = store.repo().await?;
    let unknown = GrantError::InvalidGrant("unknown, expired or used authorization code");
    let Some(mut grant) = repo.oauth2_grants().find_by_code(exchange.code).await? else {
        return Err(unknown);
    };
    if grant.client_id != client.id {
        // Another client's code: refuse without touching it (the real client may still use it).
        return Err(unknown);
    }
    if grant.state() == GrantState::Exchanged {
        drop(repo);
        return Err(end_replayed_code(store, clock, grant.id).await?);
    }
    if !grant.code_is_live(now) {
        return Err(unknown);
    }
    match exchange.redirect_uri {
        Some(uri) if uri == grant.redirect_uri => {}
        Some(_) => {
            return Err(GrantError::InvalidGrant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        // RFC 6749 §4.1.3 asks for it only when the authorization request carried it; one
        // without it can only have been for the client's only redirect URI.
        None if matches!(client.redirect_uris.as_slice(), [only] if only.as_str() == grant.redirect_uri) =>
            {}
        None => return Err(GrantError::InvalidRequest("redirect_uri is required")),
    }
    match (&grant.pkce, exchange.code_verifier) {
        (Some(pkce), Some(verifier)) if pkce.verify(verifier) => {}
        (Some(_), Some(_)) => return Err(GrantError::InvalidGrant("wrong code_verifier")),
        (Some(_), None) => return Err(GrantError::InvalidGrant("code_verifier is required")),
        // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(GrantError::InvalidGrant(
                "code_verifier sent but the authorization request had no code_challenge",
            ));
        }
        (None, None) if is_public(client) => {
            return Err(GrantError::InvalidGrant("public clients must use PKCE"));
        }
        (None, None) => {}
    }
    let approved = Approved {
        user_id: grant.user_id,
        scope: &grant.scope,
        user_session_id: grant.user_session_id,
    };
    let Some(issued) = start_approved(&mut repo, clock, rng, client, approved, access_ttl).await?
    else {
        return Err(unknown);
    };
    // The session exists now (the grant refers to it); a refusal below drops the unit of
    // work, and the session with it.
    if !repo
        .oauth2_grants()
        .exchange(&mut grant, issued.session.id, now)
        .await?
    {
        // A concurrent exchange won (on PostgreSQL, the UPDATE waited for it to commit): this
        // one is the replay, answered as a later one would be. What it made is dropped.
        drop(repo);
        return Err(end_replayed_code(store, clock, grant.id).await?);
    }
    repo.save().await?;
    Ok(IssuedTokens {
        grant: Some(grant),
        ..issued
    })
}

/// A code presented again after it was exchanged: end the session it started.
async fn end_replayed_code(
    store: &Store,
    clock: &dyn Clock,
    grant_id: Ulid,
) -> Result<GrantError, StoreError> {
    let mut repo = store.repo().await?;
    let session_id = repo
        .oauth2_grants()
        .find(grant_id)
        .await?
        .and_then(|grant| grant.session_id);
    if let Some(session_id) = session_id {
        end_session(&mut repo, clock, session_id).await?;
    }
    repo.save().await?;
    Ok(GrantError::CodeReplayed)
}

/// What a user approved (an authorization or a device grant): who, what, from which browser
/// session.
struct Approved<'a> {
    user_id: Option<Ulid>,
    scope: &'a Scope,
    user_session_id: Option<Ulid>,
}

/// Start the session an approved grant leads to, with its tokens; `None` when the user who
/// approved is unknown or no longer active.
async fn start_approved(
    repo: &mut Repo,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    client: &OAuth2Client,
    approved: Approved<'_>,
    access_ttl: Duration,
) -> Result<Option<IssuedTokens>, StoreError> {
    let Some(user_id) = approved.user_id else {
        return Ok(None);
    };
    let user = match repo.users().find_by_id(user_id).await? {
        Some(user) if user.is_active() => user,
        _ => return Ok(None),
    };
    let session = new_session(
        clock,
        client,
        Some(&user),
        approved.scope,
        approved.user_session_id,
    );
    issue(repo, clock, rng, client, session, Some(user), access_ttl)
        .await
        .map(Some)
}

fn new_session(
    clock: &dyn Clock,
    client: &OAuth2Client,
    user: Option<&User>,
    scope: &Scope,
    user_session_id: Option<Ulid>,
) -> OAuth2Session {
    let now = clock.now();
    OAuth2Session {
        id: new_id(clock),
        client_id: client.id,
        user_id: user.map(|user| user.id),
        user_session_id,
        scope: scope.clone(),
        created_at: now,
        finished_at: None,
        last_active_at: Some(now),
        last_active_ip: None,
        user_agent: None,
        human_name: None,
    }
}

/// Store a new session and its first tokens: an access token of `access_ttl`, and a refresh
/// token when the client may use the refresh grant and the session has a user.
async fn issue(
    repo: &mut Repo,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    client: &OAuth2Client,
    session: OAuth2Session,
    user: Option<User>,
    access_ttl: Duration,
) -> Result<IssuedTokens, StoreError> {
    let now = clock.now();
    repo.oauth2_sessions().add(&session).await?;
    let access_token = TokenType::AccessToken.generate(rng);
    let access = OAuth2AccessToken {
        id: new_id(clock),
        session_id: session.id,
        created_at: now,
        expires_at: Some(now + access_ttl),
        revoked_at: None,
        first_used_at: None,
    };
    repo.oauth2_sessions()
        .add_access_token(&access, &access_token)
        .await?;
    let refresh_token = if user.is_some() && client.allows_grant(GrantType::RefreshToken) {
        let refresh_token = TokenType::RefreshToken.generate(rng);
        let refresh = OAuth2RefreshToken {
            id: new_id(clock),
            session_id: session.id,
            access_token_id: Some(access.id),
            created_at: now,
            consumed_at: None,
            revoked_at: None,
            next_id: None,
        };
        repo.oauth2_sessions()
            .add_refresh_token(&refresh, &refresh_token)
            .await?;
        Some(refresh_token)
    } else {
        None
    };
    Ok(IssuedTokens {
        session,
        user,
        access_token,
        refresh_token,
        expires_in: access_ttl,
        grant: None,
    })
}

/// RFC 8628 §3.1: a device asks to be authorized. Returns the grant (with its user code) and
/// the device code (stored only as a digest).
pub async fn start_device_authorization(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    client: &OAuth2Client,
    scope: Scope,
    ip_address: Option<String>,
    user_agent: Option<String>,
) -> Result<(DeviceCodeGrant, String), GrantError> {
    require_grant(client, GrantType::DeviceCode)?;
    check_scope_for(&scope, None)?;
    let now = clock.now();
    let mut repo = store.repo().await?;
    // A user code already taken (2.6·10^10 of them) is drawn again; three draws in a row
    // colliding means something else is wrong.
    for _ in 0..3 {
        let device_code = generate_code(rng);
        let grant = DeviceCodeGrant {
            ip_address: ip_address.clone(),
            user_agent: user_agent.clone(),
            ..DeviceCodeGrant::new(
                new_id(clock),
                client.id,
                scope.clone(),
                generate_user_code(rng),
                now,
            )
        };
        match repo.oauth2_grants().add_device(&grant, &device_code).await {
            Ok(()) => {
                repo.save().await?;
                return Ok((grant, device_code));
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(StoreError::Conflict("user code").into())
}

/// The device grant a person's typed user code names, if it still awaits an answer.
pub async fn find_device_by_user_code(
    store: &Store,
    clock: &dyn Clock,
    typed: &str,
) -> Result<Option<DeviceCodeGrant>, StoreError> {
    let Some(user_code) = normalize_user_code(typed) else {
        return Ok(None);
    };
    let mut reader = store.reader().await?;
    let grant = reader
        .oauth2_grants()
        .find_device_by_user_code(&user_code)
        .await?;
    Ok(grant.filter(|grant| grant.awaits_user(clock.now())))
}

/// The user answers a device's request: approve (`true`) or decline. Approving remembers the
/// consent.
pub async fn answer_device(
    store: &Store,
    clock: &dyn Clock,
    grant_id: Ulid,
    user: &User,
    browser_session_id: Option<Ulid>,
    approve: bool,
) -> Result<DeviceCodeGrant, GrantError> {
    let now = clock.now();
    let mut repo = store.repo().await?;
    let Some(mut grant) = repo.oauth2_grants().find_device(grant_id).await? else {
        return Err(GrantError::InvalidGrant("unknown device authorization"));
    };
    if !grant.awaits_user(now) {
        return Err(GrantError::InvalidGrant(
            "the device authorization expired or was already answered",
        ));
    }
    let answered = if approve {
        if !user.is_active() {
            return Err(GrantError::AccessDenied);
        }
        check_scope_for(&grant.scope, Some(user))?;
        let done = repo
            .oauth2_grants()
            .fulfil_device(&mut grant, user.id, browser_session_id, now)
            .await?;
        if done {
            repo.oauth2_grants()
                .add_consent(user.id, grant.client_id, &grant.scope, clock)
                .await?;
        }
        done
    } else {
        repo.oauth2_grants()
            .reject_device(&mut grant, user.id, now)
            .await?
    };
    if !answered {
        return Err(GrantError::InvalidGrant(
            "the device authorization was already answered",
        ));
    }
    repo.save().await?;
    Ok(grant)
}

/// The device polls with its device code (RFC 8628 §3.4): tokens once the user approved, else
/// the RFC 8628 §3.5 error that says why not. Each poll is recorded; one that comes sooner than
/// the interval allows makes the interval 5 seconds longer.
pub async fn exchange_device_code(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    client: &OAuth2Client,
    device_code: &str,
    access_ttl: Duration,
) -> Result<IssuedTokens, GrantError> {
    require_grant(client, GrantType::DeviceCode)?;
    let now = clock.now();
    let mut repo = store.repo().await?;
    let unknown = GrantError::InvalidGrant("unknown or used device code");
    let Some(mut grant) = repo
        .oauth2_grants()
        .find_device_by_code(device_code)
        .await?
    else {
        return Err(unknown);
    };
    if grant.client_id != client.id {
        return Err(unknown);
    }
    let outcome = grant.poll(now);
    let interval = match outcome {
        PollOutcome::SlowDown => grant.interval + SLOW_DOWN_STEP,
        _ => grant.interval,
    };
    if outcome != PollOutcome::Used {
        repo.oauth2_grants()
            .record_poll(&mut grant, interval, now)
            .await?;
    }
    let refused = match outcome {
        PollOutcome::Ready => None,
        PollOutcome::Pending => Some(GrantError::AuthorizationPending),
        PollOutcome::SlowDown => Some(GrantError::SlowDown),
        PollOutcome::Expired => Some(GrantError::ExpiredToken),
        PollOutcome::Denied => Some(GrantError::AccessDenied),
        PollOutcome::Used => Some(unknown),
    };
    if let Some(refused) = refused {
        repo.save().await?;
        return Err(refused);
    }
    let approved = Approved {
        user_id: grant.user_id,
        scope: &grant.scope,
        user_session_id: grant.user_session_id,
    };
    let Some(issued) = start_approved(&mut repo, clock, rng, client, approved, access_ttl).await?
    else {
        // The user who approved is gone, locked or deactivated since.
        return Err(GrantError::AccessDenied);
    };
    // The session exists now (the grant refers to it); a refusal below drops the unit of
    // work, and the session with it.
    if !repo
        .oauth2_grants()
        .exchange_device(&mut grant, issued.session.id, now)
        .await?
    {
        return Err(GrantError::InvalidGrant("unknown or used device code"));
    }
    repo.save().await?;
    Ok(issued)
}

/// The `client_credentials` grant (RFC 6749 §4.4): a session of the client itself, with no
/// user and no refresh token. Only confidential clients may use it; `urn:mas:admin` only the
/// clients in `admin_clients` (`policy.data.admin_clients`); Synapse admin rights never (they
/// belong to a user).
pub async fn client_credentials(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    client: &OAuth2Client,
    scope: Scope,
    admin_clients: &[Ulid],
    access_ttl: Duration,
) -> Result<IssuedTokens, GrantError> {
    require_grant(client, GrantType::ClientCredentials)?;
    if is_public(client) {
        return Err(GrantError::UnauthorizedClient(
            GrantType::ClientCredentials.as_str(),
        ));
    }
    if scope.contains(MAS_ADMIN) && !admin_clients.contains(&client.id) {
        return Err(GrantError::InvalidScope(
            "this client may not request urn:mas:admin",
        ));
    }
    if scope.contains(SYNAPSE_ADMIN) || device_count(&scope) > 0 {
        return Err(GrantError::InvalidScope(
            "a client's own session has no user: no device or Synapse admin scope",
        ));
    }
    let mut repo = store.repo().await?;
    let session = new_session(clock, client, None, &scope, None);
    let issued = issue(&mut repo, clock, rng, client, session, None, access_ttl).await?;
    repo.save().await?;
    Ok(issued)
}

/// The `refresh_token` grant (RFC 6749 §6), for an authenticated client. No `Debug`: it
/// holds the token.
#[derive(Clone, Copy)]
pub struct RefreshRequest<'a> {
    pub refresh_token: &'a str,
    /// A narrower scope for the new access token, when asked.
    pub scope: Option<&'a Scope>,
}

/// The `refresh_token` grant: a new access/refresh pair; the presented refresh token is
/// consumed and the access token issued with it ends. A consumed token presented again is
/// handled as [`RefreshDecision`] says, as for compat sessions: if its successor is untouched
/// the answer is that successor again while its access token lasts (the successors of a token
/// are drawn from `successors`, keyed by the token), else a new pair; if the successor was used
/// the session ends (RFC 9700 §4.14.2). `scope`, when sent, may only narrow (RFC 6749 §6); the
/// session keeps its scope.
pub async fn refresh(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    successors: &SuccessorKey,
    client: &OAuth2Client,
    request: RefreshRequest<'_>,
    access_ttl: Duration,
) -> Result<IssuedTokens, GrantError> {
    require_grant(client, GrantType::RefreshToken)?;
    if TokenType::check(request.refresh_token) != Ok(TokenType::RefreshToken) {
        return Err(GrantError::InvalidGrant(INVALID_REFRESH));
    }
    // Two refreshes with one token at once: on PostgreSQL the loser's conditional update
    // waits for the winner and then fails. Tried again, it sees what a later request would
    // (the token consumed) and is answered the same way as on SQLite, where it runs after.
    for _ in 0..2 {
        if let Some(issued) =
            refresh_once(store, clock, rng, successors, client, request, access_ttl).await?
        {
            return Ok(issued);
        }
    }
    Err(GrantError::InvalidGrant(INVALID_REFRESH))
}

const INVALID_REFRESH: &str = "unknown, used or revoked refresh token";

/// How long the access token of `successor` still lasts, when `successor` is the pair drawn
/// as `access_token` and `refresh_token` and both are still good; otherwise `None`.
async fn same_successor_lasts(
    repo: &mut Repo,
    successor: &OAuth2RefreshToken,
    access_token: &str,
    refresh_token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Duration>, StoreError> {
    let drawn = repo
        .oauth2_sessions()
        .find_refresh_token(refresh_token)
        .await?;
    if drawn.is_none_or(|drawn| drawn.id != successor.id || drawn.revoked_at.is_some()) {
        return Ok(None);
    }
    let Some(access) = repo
        .oauth2_sessions()
        .find_access_token(access_token)
        .await?
    else {
        return Ok(None);
    };
    if Some(access.token.id) != successor.access_token_id || !access.token.is_valid(now) {
        return Ok(None);
    }
    // `expires_in` goes out in whole seconds, rounded down: at least one.
    Ok(access
        .token
        .expires_at
        .map(|at| (at - now).max(Duration::seconds(1))))
}

/// One attempt at [`refresh`]; `None` when a concurrent refresh of the same token won the
/// race (nothing was written).
async fn refresh_once(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut (impl Rng + Send),
    successors: &SuccessorKey,
    client: &OAuth2Client,
    RefreshRequest {
        refresh_token: presented,
        scope,
    }: RefreshRequest<'_>,
    access_ttl: Duration,
) -> Result<Option<IssuedTokens>, GrantError> {
    let invalid = GrantError::InvalidGrant(INVALID_REFRESH);
    let now = clock.now();
    let mut derived = successors.rng_for(presented);
    let mut access_token = TokenType::AccessToken.generate(&mut derived);
    let mut refresh_token = TokenType::RefreshToken.generate(&mut derived);
    let mut repo = store.repo().await?;
    let Some(OAuth2RefreshLookup {
        token: old,
        mut session,
        user,
    }) = repo
        .oauth2_sessions()
        .find_refresh_lookup(presented)
        .await?
    else {
        return Err(invalid);
    };
    if session.client_id != client.id {
        return Err(invalid);
    }
    let Some(user) = user.filter(User::is_active) else {
        return Err(invalid);
    };
    if session.is_finished() || old.revoked_at.is_some() {
        return Err(invalid);
    }
    if let Some(scope) = scope
        && !scope.is_subset_of(&session.scope)
    {
        return Err(GrantError::InvalidScope(
            "a refresh may not widen the session's scope",
        ));
    }
    let successor = match (old.consumed_at, old.next_id) {
        (None, _) => None,
        (Some(_), Some(next)) => {
            repo.oauth2_sessions()
                .find_refresh_token_by_id(next)
                .await?
        }
        (Some(_), None) => return Err(invalid),
    };
    let successor_used = match &successor {
        Some(next) => {
            next.consumed_at.is_some()
                || match next.access_token_id {
                    Some(id) => repo
                        .oauth2_sessions()
                        .access_token_first_used(id)
                        .await?
                        .is_some(),
                    None => false,
                }
        }
        None => false,
    };
    let decision = RefreshDecision::decide(old.consumed_at.is_some(), successor_used);
    if decision == RefreshDecision::Replay {
        repo.oauth2_sessions().finish(&mut session, now).await?;
        repo.jobs()
            .push(clock, &Job::SyncDevices { user_id: user.id })
            .await?;
        repo.save().await?;
        return Err(GrantError::RefreshReplayed);
    }
    if decision == RefreshDecision::RotateAgain
        && let Some(successor) = &successor
    {
        // A lost answer: the same pair again, while its access token lasts.
        if let Some(expires_in) =
            same_successor_lasts(&mut repo, successor, &access_token, &refresh_token, now).await?
        {
            return Ok(Some(IssuedTokens {
                session,
                user: Some(user),
                access_token,
                refresh_token: Some(refresh_token),
                expires_in,
                grant: None,
            }));
        }
        // Too late for that (or the successor was drawn otherwise): a new pair, which must
        // not be the one drawn before.
        access_token = TokenType::AccessToken.generate(rng);
        refresh_token = TokenType::RefreshToken.generate(rng);
    }
    let access = OAuth2AccessToken {
        id: new_id(clock),
        session_id: session.id,
        created_at: now,
        expires_at: Some(now + access_ttl),
        revoked_at: None,
        first_used_at: None,
    };
    let next = OAuth2RefreshToken {
        id: new_id(clock),
        session_id: session.id,
        access_token_id: Some(access.id),
        created_at: now,
        consumed_at: None,
        revoked_at: None,
        next_id: None,
    };
    // A refusal below drops the unit of work, and the new pair with it. Of two concurrent
    // refreshes with one token only one wins; the other may find the same pair stored already
    // (on PostgreSQL its insert waits for the winner, then finds the digest taken).
    match (decision, successor) {
        (RefreshDecision::Rotate, _) => {
            if !repo
                .oauth2_sessions()
                .rotate_refresh_token(&old, (&access, &access_token), (&next, &refresh_token), now)
                .await?
            {
                return Ok(None);
            }
        }
        (RefreshDecision::RotateAgain, Some(successor)) => {
            if !repo
                .oauth2_sessions()
                .add_token_pair((&access, &access_token), (&next, &refresh_token))
                .await?
            {
                return Ok(None);
            }
            if !repo
                .oauth2_sessions()
                .repoint_refresh_token(old.id, successor.id, next.id)
                .await?
            {
                return Ok(None);
            }
            repo.oauth2_sessions()
                .withdraw_refresh_token(&successor, now)
                .await?;
            if let Some(previous) = old.access_token_id {
                repo.oauth2_sessions()
                    .revoke_access_token(previous, now)
                    .await?;
            }
        }
        _ => return Err(invalid),
    }
    repo.save().await?;
    Ok(Some(IssuedTokens {
        session,
        user: Some(user),
        access_token,
        refresh_token: Some(refresh_token),
        expires_in: access_ttl,
        grant: None,
    }))
}

/// RFC 7009 revocation by `client_id`: revoking an access or a refresh token ends its whole
/// session (matrix-rust-sdk's logout relies on it, MSC4254). An unknown token, or one of
/// another client, changes nothing and is not an error (RFC 7009 §2.2). Returns the session
/// ended, if any.
pub async fn revoke(
    store: &Store,
    clock: &dyn Clock,
    client_id: Ulid,
    token: &str,
) -> Result<Option<OAuth2Session>, StoreError> {
    let session_id = {
        let mut reader = store.reader().await?;
        match TokenType::check(token) {
            Ok(TokenType::AccessToken) => reader
                .oauth2_sessions()
                .find_access_token(token)
                .await?
                .map(|found| found.session.id),
            Ok(TokenType::RefreshToken) => reader
                .oauth2_sessions()
                .find_refresh_token(token)
                .await?
                .map(|found| found.session_id),
            _ => None,
        }
    };
    let Some(session_id) = session_id else {
        return Ok(None);
    };
    let mut repo = store.repo().await?;
    let Some(session) = repo.oauth2_sessions().find(session_id).await? else {
        return Ok(None);
    };
    if session.client_id != client_id || session.is_finished() {
        return Ok(None);
    }
    let ended = end_session(&mut repo, clock, session_id).await?;
    repo.save().await?;
    Ok(ended)
}

/// Finish one session (its tokens end at once, in every process) and queue the device sync
/// that removes its device from the homeserver. `None` when there is no such session;
/// finishing a finished one changes nothing.
pub async fn finish(
    store: &Store,
    clock: &dyn Clock,
    session_id: Ulid,
) -> Result<Option<OAuth2Session>, StoreError> {
    let mut repo = store.repo().await?;
    let ended = end_session(&mut repo, clock, session_id).await?;
    repo.save().await?;
    Ok(ended)
}

async fn end_session(
    repo: &mut Repo,
    clock: &dyn Clock,
    session_id: Ulid,
) -> Result<Option<OAuth2Session>, StoreError> {
    let Some(mut session) = repo.oauth2_sessions().find(session_id).await? else {
        return Ok(None);
    };
    if session.is_finished() {
        return Ok(Some(session));
    }
    repo.oauth2_sessions()
        .finish(&mut session, clock.now())
        .await?;
    if let Some(user_id) = session.user_id {
        repo.jobs()
            .push(clock, &Job::SyncDevices { user_id })
            .await?;
    }
    Ok(Some(session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_issued_tokens() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let issued = IssuedTokens {
            session: OAuth2Session {
                id: Ulid::nil(),
                client_id: Ulid::nil(),
                user_id: None,
                user_session_id: None,
                scope: Scope::default(),
                created_at: now,
                finished_at: None,
                last_active_at: None,
                last_active_ip: None,
                user_agent: None,
                human_name: None,
            },
            user: None,
            access_token: "mat_secret_access".to_owned(),
            refresh_token: Some("mar_secret_refresh".to_owned()),
            expires_in: Duration::seconds(300),
            grant: None,
        };
        let printed = format!("{issued:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }
}

//! OAuth 2.0 grants through the service layer, checked by introspection as Synapse sees it (with
//! the introspection cache on): the authorization code exchanged once (a replay ends the
//! session), PKCE, refresh rotation and replay, the device grant's states, client credentials,
//! revocation, and the ending or narrowing of OAuth tokens by kill-sessions and demotion. On
//! both backends.

use base64::Engine;
use chrono::Duration;
use gatehouse::{
    domain::{
        Clock,
        oauth2_clients::{GrantType, GrantTypes, OAuth2Client, TokenEndpointAuthMethod},
        oauth2_grants::{Pkce, PkceMethod, ResponseMode},
        scopes::Scope,
        users::User,
    },
    services::{
        accounts,
        oauth2_sessions::{
            self, AuthorizationRequest, CodeExchange, GrantError, IssuedTokens, RefreshRequest,
        },
    },
    store::SessionActivity,
};
use serde_json::{Value, json};
use sha2::Digest;

use crate::{common::TestDb, hardening::Setup, on_both_backends};

pub(crate) const REDIRECT: &str = "https://client.example/callback";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const TTL: Duration = Duration::seconds(300);

/// A client stored as registration would store it.
pub(crate) async fn add_client(
    setup: &Setup,
    method: TokenEndpointAuthMethod,
    grants: &[GrantType],
) -> OAuth2Client {
    let clock = &setup.server.clock;
    let client = OAuth2Client {
        id: gatehouse::domain::ids::new_id(clock),
        is_static: false,
        encrypted_client_secret: None,
        token_endpoint_auth_method: Some(method),
        jwks: None,
        jwks_uri: None,
        redirect_uris: vec![REDIRECT.parse().unwrap()],
        client_name: Some("Test client".into()),
        client_uri: Some("https://client.example/".into()),
        grant_types: grants.iter().copied().collect::<GrantTypes>(),
        metadata: Default::default(),
        created_at: clock.now(),
    };
    let mut repo = setup.server.store.repo().await.unwrap();
    repo.oauth2_clients().upsert(&client).await.unwrap();
    repo.save().await.unwrap();
    client
}

pub(crate) async fn public_client(setup: &Setup) -> OAuth2Client {
    add_client(
        setup,
        TokenEndpointAuthMethod::None,
        &[
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::DeviceCode,
        ],
    )
    .await
}

pub(crate) fn s256() -> Pkce {
    Pkce {
        method: PkceMethod::S256,
        challenge: base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(VERIFIER.as_bytes())),
    }
}

pub(crate) fn request(scope: &str, pkce: Option<Pkce>) -> AuthorizationRequest {
    AuthorizationRequest {
        redirect_uri: REDIRECT.into(),
        scope: Scope::parse(scope).unwrap(),
        state: Some("xyz".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        response_mode: ResponseMode::Fragment,
        response_type_id_token: false,
        pkce,
        login_hint: None,
        prompt: None,
        max_age: None,
    }
}

pub(crate) async fn user(setup: &Setup, name: &str, admin: bool) -> User {
    setup.register(name, admin).await;
    accounts::find_user(&setup.server.store, name)
        .await
        .unwrap()
}

/// Request, approve and return the code.
pub(crate) async fn approved_code(
    setup: &Setup,
    client: &OAuth2Client,
    user: &User,
    scope: &str,
    pkce: Option<Pkce>,
) -> String {
    let s = &setup.server;
    let grant =
        oauth2_sessions::start_authorization(&s.store, &s.clock, client, request(scope, pkce))
            .await
            .unwrap();
    let (_, code) = oauth2_sessions::fulfil_authorization(
        &s.store,
        &s.clock,
        &mut s.state.random.rng(),
        grant.id,
        user,
        None,
    )
    .await
    .unwrap();
    code
}

async fn exchange(
    setup: &Setup,
    client: &OAuth2Client,
    code: &str,
    verifier: Option<&str>,
) -> Result<IssuedTokens, GrantError> {
    let s = &setup.server;
    oauth2_sessions::exchange_code(
        &s.store,
        &s.clock,
        &mut s.state.random.rng(),
        client,
        CodeExchange {
            code,
            redirect_uri: Some(REDIRECT),
            code_verifier: verifier,
        },
        TTL,
    )
    .await
}

async fn refresh(
    setup: &Setup,
    client: &OAuth2Client,
    token: &str,
    scope: Option<&Scope>,
) -> Result<IssuedTokens, GrantError> {
    let s = &setup.server;
    oauth2_sessions::refresh(
        &s.store,
        &s.clock,
        &mut s.state.random.rng(),
        &s.state.refresh_successors,
        client,
        RefreshRequest {
            refresh_token: token,
            scope,
        },
        TTL,
    )
    .await
}

/// An OAuth 2.0 session for `user` at `client` (code + PKCE, approved and exchanged).
async fn signed_in(setup: &Setup, client: &OAuth2Client, user: &User, scope: &str) -> IssuedTokens {
    let code = approved_code(setup, client, user, scope, Some(s256())).await;
    exchange(setup, client, &code, Some(VERIFIER))
        .await
        .unwrap()
}

/// A new public client, and an OAuth 2.0 session for `user` through it (code + PKCE): what
/// the token endpoint would hand back.
pub(crate) async fn oauth_session(
    setup: &Setup,
    user: &User,
    scope: &str,
) -> (OAuth2Client, IssuedTokens) {
    let client = public_client(setup).await;
    let issued = signed_in(setup, &client, user, scope).await;
    (client, issued)
}

/// Introspect twice (the second answer from the cache) and return the answer.
async fn introspect_cached(setup: &Setup, token: &str) -> Value {
    let first = setup.server.introspect(token, true).await;
    assert_eq!(setup.server.introspect(token, true).await, first);
    first
}

fn scope_of(answer: &Value) -> Vec<&str> {
    answer["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .collect()
}

const DEVICE_SCOPE: &str = "urn:matrix:client:device:ABCDEFGHIJ";

async fn code_is_exchanged_once_and_a_replay_ends_the_session(db: TestDb) {
    let setup = Setup::start(&db).await;
    let alice = user(&setup, "alice", false).await;
    let client = public_client(&setup).await;
    let scope = format!("openid urn:matrix:client:api:* {DEVICE_SCOPE}");
    let code = approved_code(&setup, &client, &alice, &scope, Some(s256())).await;

    // A wrong verifier is refused and does not use the code up.
    let wrong = exchange(&setup, &client, &code, Some(&"x".repeat(43))).await;
    assert!(
        matches!(wrong, Err(GrantError::InvalidGrant(_))),
        "{wrong:?}"
    );
    let missing = exchange(&setup, &client, &code, None).await;
    assert!(
        matches!(missing, Err(GrantError::InvalidGrant(_))),
        "{missing:?}"
    );
    // Another client cannot use it.
    let other = public_client(&setup).await;
    let foreign = exchange(&setup, &other, &code, Some(VERIFIER)).await;
    assert!(
        matches!(foreign, Err(GrantError::InvalidGrant(_))),
        "{foreign:?}"
    );

    let issued = exchange(&setup, &client, &code, Some(VERIFIER))
        .await
        .unwrap();
    assert!(issued.access_token.starts_with("mat_"));
    assert!(
        issued
            .refresh_token
            .as_deref()
            .is_some_and(|t| t.starts_with("mar_"))
    );
    assert_eq!(
        issued.grant.as_ref().and_then(|g| g.nonce.as_deref()),
        Some("n-0S6_WzA2Mj")
    );
    let answer = introspect_cached(&setup, &issued.access_token).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["sub"], alice.id.to_string());
    assert_eq!(answer["username"], "alice");
    assert_eq!(answer["client_id"], client.id.to_string());
    assert_eq!(answer["device_id"], "ABCDEFGHIJ");
    assert_eq!(answer["expires_in"], 300);
    assert!(answer["jti"].is_string(), "{answer}");
    let scopes = scope_of(&answer);
    for expected in [
        "openid",
        "urn:matrix:client:api:*",
        "urn:matrix:org.matrix.msc2967.client:api:*",
        DEVICE_SCOPE,
        "urn:matrix:org.matrix.msc2967.client:device:ABCDEFGHIJ",
    ] {
        assert!(scopes.contains(&expected), "{expected} in {answer}");
    }
    // Without the device-id header, the device is in the scope only.
    let plain = setup.server.introspect(&issued.access_token, false).await;
    assert!(plain.get("device_id").is_none(), "{plain}");

    // RFC 6749 §4.1.2: the code again is refused, and what it issued ends at once.
    let replay = exchange(&setup, &client, &code, Some(VERIFIER)).await;
    assert!(
        matches!(replay, Err(GrantError::CodeReplayed)),
        "{replay:?}"
    );
    assert_eq!(
        setup.server.introspect(&issued.access_token, true).await,
        json!({"active": false})
    );
    let after = refresh(
        &setup,
        &client,
        issued.refresh_token.as_deref().unwrap(),
        None,
    )
    .await;
    assert!(
        matches!(after, Err(GrantError::InvalidGrant(_))),
        "{after:?}"
    );

    // A code not exchanged within 10 minutes is dead.
    let late = approved_code(&setup, &client, &alice, "openid", Some(s256())).await;
    setup.server.clock.advance(Duration::minutes(10));
    let expired = exchange(&setup, &client, &late, Some(VERIFIER)).await;
    assert!(
        matches!(expired, Err(GrantError::InvalidGrant(_))),
        "{expired:?}"
    );
}

async fn pkce_and_redirect_rules(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    let bob = user(&setup, "bob", false).await;
    let public = public_client(&setup).await;
    // A public client must send a challenge; so must one that never said how it
    // authenticates and has nothing to authenticate with.
    let unsaid = OAuth2Client {
        token_endpoint_auth_method: None,
        ..public.clone()
    };
    let unsaid_refused =
        oauth2_sessions::start_authorization(&s.store, &s.clock, &unsaid, request("openid", None))
            .await;
    assert!(
        matches!(unsaid_refused, Err(GrantError::InvalidRequest(_))),
        "{unsaid_refused:?}"
    );
    let refused =
        oauth2_sessions::start_authorization(&s.store, &s.clock, &public, request("openid", None))
            .await;
    assert!(
        matches!(refused, Err(GrantError::InvalidRequest(_))),
        "{refused:?}"
    );

    let confidential = add_client(
        &setup,
        TokenEndpointAuthMethod::ClientSecretBasic,
        &[GrantType::AuthorizationCode],
    )
    .await;
    // Downgrade: a verifier without a challenge (RFC 9700 §4.8.2).
    let code = approved_code(&setup, &confidential, &bob, "openid", None).await;
    let downgrade = exchange(&setup, &confidential, &code, Some(VERIFIER)).await;
    assert!(
        matches!(downgrade, Err(GrantError::InvalidGrant(_))),
        "{downgrade:?}"
    );
    // The redirect URI must be the authorization request's.
    let wrong_redirect = oauth2_sessions::exchange_code(
        &s.store,
        &s.clock,
        &mut s.state.random.rng(),
        &confidential,
        CodeExchange {
            code: &code,
            redirect_uri: Some("https://evil.example/cb"),
            code_verifier: None,
        },
        TTL,
    )
    .await;
    assert!(
        matches!(wrong_redirect, Err(GrantError::InvalidGrant(_))),
        "{wrong_redirect:?}"
    );
    // Without redirect_uri: enough for a client with one registered redirect URI (an
    // authorization request may leave it out then), not for one with several.
    let several = OAuth2Client {
        redirect_uris: vec![
            REDIRECT.parse().unwrap(),
            "https://app.example/other".parse().unwrap(),
        ],
        ..confidential.clone()
    };
    let without = |client: OAuth2Client| {
        let code = code.clone();
        async move {
            oauth2_sessions::exchange_code(
                &s.store,
                &s.clock,
                &mut s.state.random.rng(),
                &client,
                CodeExchange {
                    code: &code,
                    redirect_uri: None,
                    code_verifier: None,
                },
                TTL,
            )
            .await
        }
    };
    let unsaid = without(several).await;
    assert!(
        matches!(unsaid, Err(GrantError::InvalidRequest(_))),
        "{unsaid:?}"
    );
    // A confidential client without PKCE may exchange; no refresh grant, no refresh token.
    let issued = without(confidential.clone()).await.unwrap();
    assert!(issued.refresh_token.is_none());

    // A plain challenge works too.
    let plain = Pkce {
        method: PkceMethod::Plain,
        challenge: VERIFIER.into(),
    };
    let code = approved_code(&setup, &public, &bob, "openid", Some(plain)).await;
    exchange(&setup, &public, &code, Some(VERIFIER))
        .await
        .unwrap();

    // Admin scopes need a user who may request them.
    let grant = oauth2_sessions::start_authorization(
        &s.store,
        &s.clock,
        &public,
        request("urn:matrix:client:api:* urn:synapse:admin:*", Some(s256())),
    )
    .await
    .unwrap();
    let escalate = oauth2_sessions::fulfil_authorization(
        &s.store,
        &s.clock,
        &mut s.state.random.rng(),
        grant.id,
        &bob,
        None,
    )
    .await;
    assert!(
        matches!(escalate, Err(GrantError::InvalidScope(_))),
        "{escalate:?}"
    );
    // A declined request cannot be approved afterwards.
    oauth2_sessions::decline_authorization(&s.store, &s.clock, grant.id)
        .await
        .unwrap();
    let grant_again = s
        .store
        .reader()
        .await
        .unwrap()
        .oauth2_grants()
        .find(grant.id)
        .await
        .unwrap()
        .unwrap();
    assert!(grant_again.cancelled_at.is_some());
}

async fn consent_is_remembered_until_scopes_grow(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    let carol = user(&setup, "carol", false).await;
    let client = public_client(&setup).await;
    let scope = format!("openid urn:matrix:client:api:* {DEVICE_SCOPE}");
    let first = oauth2_sessions::start_authorization(
        &s.store,
        &s.clock,
        &client,
        request(&scope, Some(s256())),
    )
    .await
    .unwrap();
    assert!(
        oauth2_sessions::consent_needed(&s.store, &carol, &first)
            .await
            .unwrap()
    );
    approved_code(&setup, &client, &carol, &scope, Some(s256())).await;
    // Same scopes with another device, or fewer: no consent page.
    let again = oauth2_sessions::start_authorization(
        &s.store,
        &s.clock,
        &client,
        request(
            "urn:matrix:client:api:* urn:matrix:client:device:OTHERDEVICE",
            Some(s256()),
        ),
    )
    .await
    .unwrap();
    assert!(
        !oauth2_sessions::consent_needed(&s.store, &carol, &again)
            .await
            .unwrap()
    );
    let more = oauth2_sessions::start_authorization(
        &s.store,
        &s.clock,
        &client,
        request("openid email", Some(s256())),
    )
    .await
    .unwrap();
    assert!(
        oauth2_sessions::consent_needed(&s.store, &carol, &more)
            .await
            .unwrap(),
        "scopes grew"
    );
    let other = public_client(&setup).await;
    let elsewhere = oauth2_sessions::start_authorization(
        &s.store,
        &s.clock,
        &other,
        request("openid", Some(s256())),
    )
    .await
    .unwrap();
    assert!(
        oauth2_sessions::consent_needed(&s.store, &carol, &elsewhere)
            .await
            .unwrap(),
        "per client"
    );
}

async fn refresh_rotates_and_a_replay_ends_the_session(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    let dave = user(&setup, "dave", false).await;
    let client = public_client(&setup).await;
    let first = signed_in(&setup, &client, &dave, "urn:matrix:client:api:*").await;
    assert_eq!(
        introspect_cached(&setup, &first.access_token).await["active"],
        true
    );
    let first_refresh = first.refresh_token.clone().unwrap();

    // Widening the scope on refresh is refused.
    let wider = Scope::parse("urn:matrix:client:api:* urn:synapse:admin:*").unwrap();
    let escalate = refresh(&setup, &client, &first_refresh, Some(&wider)).await;
    assert!(
        matches!(escalate, Err(GrantError::InvalidScope(_))),
        "{escalate:?}"
    );
    // Another client's refresh token is not valid for this one.
    let other = public_client(&setup).await;
    let foreign = refresh(&setup, &other, &first_refresh, None).await;
    assert!(
        matches!(foreign, Err(GrantError::InvalidGrant(_))),
        "{foreign:?}"
    );

    let second = refresh(&setup, &client, &first_refresh, None)
        .await
        .unwrap();
    assert_eq!(second.session.id, first.session.id);
    // The previous access token ends at once; the new one works.
    assert_eq!(
        s.introspect(&first.access_token, true).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect_cached(&setup, &second.access_token).await["active"],
        true
    );

    // The successor was used (introspected, recorded): the old refresh token again is a replay.
    s.state.activity.flush(&s.store).await.unwrap();
    let replay = refresh(&setup, &client, &first_refresh, None).await;
    assert!(
        matches!(replay, Err(GrantError::RefreshReplayed)),
        "{replay:?}"
    );
    assert_eq!(
        s.introspect(&second.access_token, true).await,
        json!({"active": false})
    );
    let dead = refresh(
        &setup,
        &client,
        second.refresh_token.as_deref().unwrap(),
        None,
    )
    .await;
    assert!(
        matches!(dead, Err(GrantError::InvalidGrant(_))),
        "the whole session ended: {dead:?}"
    );

    // A lost answer: the old token again before its successor was used gets that successor
    // again (nothing is written), while its access token lasts.
    let start = signed_in(&setup, &client, &dave, "urn:matrix:client:api:*").await;
    let start_refresh = start.refresh_token.unwrap();
    let lost = refresh(&setup, &client, &start_refresh, None)
        .await
        .unwrap();
    s.clock.advance(Duration::seconds(100));
    let retried = refresh(&setup, &client, &start_refresh, None)
        .await
        .unwrap();
    assert_eq!(retried.access_token, lost.access_token);
    assert_eq!(retried.refresh_token, lost.refresh_token);
    assert_eq!(retried.expires_in, TTL - Duration::seconds(100));
    assert_eq!(
        introspect_cached(&setup, &retried.access_token).await["active"],
        true
    );
    // Another session's token draws other successors.
    let beside = signed_in(&setup, &client, &dave, "urn:matrix:client:api:*").await;
    let beside_next = refresh(
        &setup,
        &client,
        beside.refresh_token.as_deref().unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_ne!(beside_next.refresh_token, lost.refresh_token);

    // Once that access token has expired (unused), the old token again gets a new pair and the
    // unused successor is withdrawn.
    let later = signed_in(&setup, &client, &dave, "urn:matrix:client:api:*").await;
    let later_refresh = later.refresh_token.unwrap();
    let lost = refresh(&setup, &client, &later_refresh, None)
        .await
        .unwrap();
    s.clock.advance(TTL);
    let retried = refresh(&setup, &client, &later_refresh, None)
        .await
        .unwrap();
    assert_ne!(retried.access_token, lost.access_token);
    assert_ne!(retried.refresh_token, lost.refresh_token);
    assert_eq!(retried.expires_in, TTL);
    assert_eq!(
        introspect_cached(&setup, &retried.access_token).await["active"],
        true
    );
    let withdrawn = refresh(
        &setup,
        &client,
        lost.refresh_token.as_deref().unwrap(),
        None,
    )
    .await;
    assert!(
        matches!(withdrawn, Err(GrantError::InvalidGrant(_))),
        "{withdrawn:?}"
    );
    refresh(
        &setup,
        &client,
        retried.refresh_token.as_deref().unwrap(),
        None,
    )
    .await
    .unwrap();
}

async fn poll(
    setup: &Setup,
    client: &OAuth2Client,
    device_code: &str,
) -> Result<IssuedTokens, GrantError> {
    let s = &setup.server;
    oauth2_sessions::exchange_device_code(
        &s.store,
        &s.clock,
        &mut s.state.random.rng(),
        client,
        device_code,
        TTL,
    )
    .await
}

async fn device_flow_states(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    let erin = user(&setup, "erin", false).await;
    let client = public_client(&setup).await;
    let start = || async {
        oauth2_sessions::start_device_authorization(
            &s.store,
            &s.clock,
            &mut s.state.random.rng(),
            &client,
            Scope::parse(&format!("urn:matrix:client:api:* {DEVICE_SCOPE}")).unwrap(),
            None,
            None,
        )
        .await
        .unwrap()
    };
    let (grant, device_code) = start().await;
    assert_eq!(grant.interval, Duration::seconds(5));
    assert!(matches!(
        poll(&setup, &client, &device_code).await,
        Err(GrantError::AuthorizationPending)
    ));
    assert!(matches!(
        poll(&setup, &client, &device_code).await,
        Err(GrantError::SlowDown)
    ));
    // The interval grew to 10 s: 5 s later is still too soon.
    s.clock.advance(Duration::seconds(5));
    assert!(matches!(
        poll(&setup, &client, &device_code).await,
        Err(GrantError::SlowDown)
    ));
    s.clock.advance(Duration::seconds(15));
    assert!(matches!(
        poll(&setup, &client, &device_code).await,
        Err(GrantError::AuthorizationPending)
    ));

    // The user types the code in any case, with spaces for the dash.
    let typed = grant.user_code.to_lowercase().replace('-', " ");
    let found = oauth2_sessions::find_device_by_user_code(&s.store, &s.clock, &typed)
        .await
        .unwrap()
        .expect("the grant");
    assert_eq!(found.id, grant.id);
    assert!(
        oauth2_sessions::find_device_by_user_code(&s.store, &s.clock, "BCDF-GHJK")
            .await
            .unwrap()
            .is_none()
    );
    oauth2_sessions::answer_device(&s.store, &s.clock, grant.id, &erin, None, true)
        .await
        .unwrap();
    let again =
        oauth2_sessions::answer_device(&s.store, &s.clock, grant.id, &erin, None, false).await;
    assert!(
        matches!(again, Err(GrantError::InvalidGrant(_))),
        "answered once: {again:?}"
    );
    s.clock.advance(Duration::seconds(20));
    let issued = poll(&setup, &client, &device_code).await.unwrap();
    let answer = introspect_cached(&setup, &issued.access_token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["username"], "erin");
    assert_eq!(answer["device_id"], "ABCDEFGHIJ");
    s.clock.advance(Duration::seconds(20));
    assert!(
        matches!(
            poll(&setup, &client, &device_code).await,
            Err(GrantError::InvalidGrant(_))
        ),
        "used up"
    );

    // Declined.
    let (declined, declined_code) = start().await;
    oauth2_sessions::answer_device(&s.store, &s.clock, declined.id, &erin, None, false)
        .await
        .unwrap();
    assert!(matches!(
        poll(&setup, &client, &declined_code).await,
        Err(GrantError::AccessDenied)
    ));

    // Expired after 20 minutes; the user can no longer find it either.
    let (late, late_code) = start().await;
    s.clock.advance(Duration::minutes(20));
    assert!(matches!(
        poll(&setup, &client, &late_code).await,
        Err(GrantError::ExpiredToken)
    ));
    assert!(
        oauth2_sessions::find_device_by_user_code(&s.store, &s.clock, &late.user_code)
            .await
            .unwrap()
            .is_none()
    );
    let too_late =
        oauth2_sessions::answer_device(&s.store, &s.clock, late.id, &erin, None, true).await;
    assert!(
        matches!(too_late, Err(GrantError::InvalidGrant(_))),
        "{too_late:?}"
    );

    // A client without the device grant may not start one.
    let no_device = add_client(
        &setup,
        TokenEndpointAuthMethod::None,
        &[GrantType::AuthorizationCode],
    )
    .await;
    let refused = oauth2_sessions::start_device_authorization(
        &s.store,
        &s.clock,
        &mut s.state.random.rng(),
        &no_device,
        Scope::parse("openid").unwrap(),
        None,
        None,
    )
    .await;
    assert!(
        matches!(refused, Err(GrantError::UnauthorizedClient(_))),
        "{refused:?}"
    );
}

async fn client_credentials_token_has_no_user(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    let client = add_client(
        &setup,
        TokenEndpointAuthMethod::ClientSecretBasic,
        &[GrantType::ClientCredentials],
    )
    .await;
    let grant = |scope: &str, admins: Vec<ulid::Ulid>| {
        let scope = Scope::parse(scope).unwrap();
        let client = client.clone();
        async move {
            oauth2_sessions::client_credentials(
                &s.store,
                &s.clock,
                &mut s.state.random.rng(),
                &client,
                scope,
                &admins,
                TTL,
            )
            .await
        }
    };
    let refused = grant("urn:mas:admin", vec![]).await;
    assert!(
        matches!(refused, Err(GrantError::InvalidScope(_))),
        "{refused:?}"
    );
    let issued = grant("urn:mas:admin", vec![client.id]).await.unwrap();
    assert!(issued.refresh_token.is_none() && issued.user.is_none());
    let answer = introspect_cached(&setup, &issued.access_token).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["client_id"], client.id.to_string());
    assert!(
        answer.get("sub").is_none() && answer.get("username").is_none(),
        "{answer}"
    );
    assert_eq!(scope_of(&answer), ["urn:mas:admin"]);

    // Public clients have no credentials to prove.
    let public = add_client(
        &setup,
        TokenEndpointAuthMethod::None,
        &[GrantType::ClientCredentials],
    )
    .await;
    let public_refused = oauth2_sessions::client_credentials(
        &s.store,
        &s.clock,
        &mut s.state.random.rng(),
        &public,
        Scope::default(),
        &[],
        TTL,
    )
    .await;
    assert!(
        matches!(public_refused, Err(GrantError::UnauthorizedClient(_))),
        "{public_refused:?}"
    );

    // The token expires with its TTL.
    s.clock.advance(TTL);
    assert_eq!(
        s.introspect(&issued.access_token, true).await,
        json!({"active": false})
    );
}

async fn revocation_ends_the_session_of_its_own_client_only(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    let frank = user(&setup, "frank", false).await;
    let client = public_client(&setup).await;
    let other = public_client(&setup).await;
    let issued = signed_in(&setup, &client, &frank, "urn:matrix:client:api:*").await;
    assert_eq!(
        introspect_cached(&setup, &issued.access_token).await["active"],
        true
    );

    // RFC 7009 §2.1: another client's token is left alone; unknown tokens are no error.
    let foreign = oauth2_sessions::revoke(&s.store, &s.clock, other.id, &issued.access_token)
        .await
        .unwrap();
    assert!(foreign.is_none());
    assert_eq!(
        s.introspect(&issued.access_token, true).await["active"],
        true
    );
    assert!(
        oauth2_sessions::revoke(&s.store, &s.clock, client.id, "mat_nonsense")
            .await
            .unwrap()
            .is_none()
    );

    // Revoking the refresh token ends the session, access token included.
    let ended = oauth2_sessions::revoke(
        &s.store,
        &s.clock,
        client.id,
        issued.refresh_token.as_deref().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(ended.map(|session| session.id), Some(issued.session.id));
    assert_eq!(
        s.introspect(&issued.access_token, true).await,
        json!({"active": false})
    );

    // Revoking an access token ends its refresh token too (MSC4254).
    let issued = signed_in(&setup, &client, &frank, "urn:matrix:client:api:*").await;
    oauth2_sessions::revoke(&s.store, &s.clock, client.id, &issued.access_token)
        .await
        .unwrap();
    let after = refresh(
        &setup,
        &client,
        issued.refresh_token.as_deref().unwrap(),
        None,
    )
    .await;
    assert!(
        matches!(after, Err(GrantError::InvalidGrant(_))),
        "{after:?}"
    );
}

async fn kill_sessions_ends_oauth_tokens_at_once(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    assert!(
        s.state.token_cache.ttl() > std::time::Duration::ZERO,
        "the cache is on"
    );
    let grace = user(&setup, "grace", false).await;
    let client = public_client(&setup).await;
    let scope = format!("urn:matrix:client:api:* {DEVICE_SCOPE}");
    let issued = signed_in(&setup, &client, &grace, &scope).await;
    assert_eq!(
        introspect_cached(&setup, &issued.access_token).await["active"],
        true
    );
    // The OAuth session's device counts as one of the user's devices.
    let devices = gatehouse::jobs::active_devices(&mut s.store.reader().await.unwrap(), grace.id)
        .await
        .unwrap();
    assert_eq!(devices, ["ABCDEFGHIJ"]);

    let ended = accounts::kill_sessions(&s.store, &s.clock, grace.id, false)
        .await
        .unwrap();
    assert_eq!(ended.oauth2, [issued.session.id]);
    assert_eq!(
        s.introspect(&issued.access_token, true).await,
        json!({"active": false})
    );
    let after = refresh(
        &setup,
        &client,
        issued.refresh_token.as_deref().unwrap(),
        None,
    )
    .await;
    assert!(
        matches!(after, Err(GrantError::InvalidGrant(_))),
        "{after:?}"
    );
    assert!(
        gatehouse::jobs::active_devices(&mut s.store.reader().await.unwrap(), grace.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn demoted_admin_loses_synapse_admin_at_once(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    setup.register("root", true).await;
    let admin = setup.admin_token("root");
    let heidi = user(&setup, "heidi", true).await;
    let client = public_client(&setup).await;
    let issued = signed_in(
        &setup,
        &client,
        &heidi,
        "urn:matrix:client:api:* urn:synapse:admin:*",
    )
    .await;
    let before = introspect_cached(&setup, &issued.access_token).await;
    assert!(
        scope_of(&before).contains(&"urn:synapse:admin:*"),
        "{before}"
    );

    let (status, body) = setup
        .request(
            reqwest::Method::POST,
            &format!("/api/admin/v1/users/{}/set-admin", heidi.id),
            &admin,
            Some(json!({"admin": false})),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    let after = s.introspect(&issued.access_token, true).await;
    assert_eq!(after["active"], true, "{after}");
    assert!(
        !scope_of(&after).contains(&"urn:synapse:admin:*"),
        "narrowed at once: {after}"
    );
    // A refresh does not bring it back.
    let refreshed = refresh(
        &setup,
        &client,
        issued.refresh_token.as_deref().unwrap(),
        None,
    )
    .await
    .unwrap();
    let refreshed = s.introspect(&refreshed.access_token, true).await;
    assert!(
        !scope_of(&refreshed).contains(&"urn:synapse:admin:*"),
        "{refreshed}"
    );
}

/// Regression: the admin API's finish ended the tokens but queued no device sync, so the
/// session's device stayed in the homeserver.
async fn admin_finish_ends_tokens_and_queues_the_device_sync(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    setup.register("root", true).await;
    let admin = setup.admin_token("root");
    let ivan = user(&setup, "ivan", false).await;
    let client = public_client(&setup).await;
    let scope = format!("urn:matrix:client:api:* {DEVICE_SCOPE}");
    let issued = signed_in(&setup, &client, &ivan, &scope).await;
    assert_eq!(
        introspect_cached(&setup, &issued.access_token).await["active"],
        true
    );
    let queued_syncs = || async {
        s.store
            .reader()
            .await
            .unwrap()
            .jobs()
            .list(gatehouse::domain::jobs::JobStatus::Available)
            .await
            .unwrap()
            .into_iter()
            .filter(|queued| {
                queued.job == gatehouse::domain::jobs::Job::SyncDevices { user_id: ivan.id }
            })
            .count()
    };
    let before = queued_syncs().await;

    let (status, body) = setup
        .request(
            reqwest::Method::POST,
            &format!("/api/admin/v1/oauth2-sessions/{}/finish", issued.session.id),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]["attributes"]["finished_at"].is_string(),
        "{body}"
    );
    assert_eq!(
        s.introspect(&issued.access_token, true).await,
        json!({"active": false})
    );
    assert_eq!(queued_syncs().await, before + 1, "a device sync is queued");
}

/// Regression: finishing a session revoked its tokens before marking the session finished,
/// the reverse of the activity flusher's order (session activity, then token first uses), so
/// the two deadlocked on PostgreSQL. Here a flusher-like unit of work holds the session row
/// while a finish starts, then marks the token used: both must complete.
async fn finishing_while_activity_is_written_does_not_deadlock(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    let judy = user(&setup, "judy", false).await;
    let (_, issued) = oauth_session(&setup, &judy, "urn:matrix:client:api:*").await;
    let token_id = s
        .store
        .reader()
        .await
        .unwrap()
        .oauth2_sessions()
        .find_access_token(&issued.access_token)
        .await
        .unwrap()
        .unwrap()
        .token
        .id;
    let now = s.clock.now();

    let mut flusher = s.store.repo().await.unwrap();
    flusher
        .oauth2_sessions()
        .record_activities(&[SessionActivity {
            session_id: issued.session.id,
            at: now,
            ip: None,
        }])
        .await
        .unwrap();
    let finishing = tokio::spawn({
        let store = s.store.clone();
        let clock = s.clock.clone();
        let session_id = issued.session.id;
        async move { oauth2_sessions::finish(&store, &clock, session_id).await }
    });
    // Let the finish reach the database and wait there.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    flusher
        .oauth2_sessions()
        .mark_access_tokens_used(&[token_id], now)
        .await
        .expect("no deadlock");
    flusher.save().await.unwrap();
    let finished = finishing.await.unwrap().expect("the finish completes");
    assert!(finished.is_some_and(|session| session.finished_at.is_some()));
    assert_eq!(
        s.introspect(&issued.access_token, true).await,
        json!({"active": false})
    );
}

async fn housekeeping_deletes_week_old_grants(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    let client = public_client(&setup).await;
    let grant = oauth2_sessions::start_authorization(
        &s.store,
        &s.clock,
        &client,
        request("openid", Some(s256())),
    )
    .await
    .unwrap();
    let (device, _) = oauth2_sessions::start_device_authorization(
        &s.store,
        &s.clock,
        &mut s.state.random.rng(),
        &client,
        Scope::parse("openid").unwrap(),
        None,
        None,
    )
    .await
    .unwrap();
    let housekeeping = gatehouse::services::housekeeping::Housekeeping::default();
    s.clock.advance(Duration::days(7) - Duration::minutes(1));
    let kept = housekeeping.sweep(&s.store, &s.clock).await.unwrap();
    assert_eq!(kept.oauth2_grants, 0);
    s.clock.advance(Duration::minutes(2));
    let swept = housekeeping.sweep(&s.store, &s.clock).await.unwrap();
    assert_eq!(swept.oauth2_grants, 2);
    let mut reader = s.store.reader().await.unwrap();
    assert!(
        reader
            .oauth2_grants()
            .find(grant.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        reader
            .oauth2_grants()
            .find_device(device.id)
            .await
            .unwrap()
            .is_none()
    );
}

/// Two exchanges of one code at once: exactly one gets tokens, the other is a replay, and the
/// session the code started ends, whichever backend serialised them how.
async fn concurrent_exchanges_of_one_code(db: TestDb) {
    let setup = Setup::start(&db).await;
    let kim = user(&setup, "kim", false).await;
    let client = public_client(&setup).await;
    let code = approved_code(
        &setup,
        &client,
        &kim,
        "urn:matrix:client:api:*",
        Some(s256()),
    )
    .await;
    let (a, b) = tokio::join!(
        exchange(&setup, &client, &code, Some(VERIFIER)),
        exchange(&setup, &client, &code, Some(VERIFIER)),
    );
    let (issued, replay) = match (a, b) {
        (Ok(issued), Err(replay)) | (Err(replay), Ok(issued)) => (issued, replay),
        other => panic!("exactly one exchange succeeds: {other:?}"),
    };
    assert!(matches!(replay, GrantError::CodeReplayed), "{replay:?}");
    assert_eq!(
        setup.server.introspect(&issued.access_token, true).await,
        json!({"active": false})
    );
    let sessions = setup
        .server
        .store
        .reader()
        .await
        .unwrap()
        .oauth2_sessions()
        .count(&gatehouse::store::oauth2_sessions::OAuth2SessionFilter::default())
        .await
        .unwrap();
    assert_eq!(sessions, 1, "the losing exchange leaves no session behind");
}

/// Two refreshes with one token at once are answered as two in a row would be, on both
/// backends: the later rotates again (its predecessor's unused pair is withdrawn).
async fn concurrent_refreshes_of_one_token(db: TestDb) {
    let setup = Setup::start(&db).await;
    let s = &setup.server;
    let leo = user(&setup, "leo", false).await;
    let (client, issued) = oauth_session(&setup, &leo, "urn:matrix:client:api:*").await;
    let presented = issued.refresh_token.unwrap();
    let (a, b) = tokio::join!(
        refresh(&setup, &client, &presented, None),
        refresh(&setup, &client, &presented, None),
    );
    let (a, b) = (a.expect("first refresh"), b.expect("second refresh"));
    // The successor was not used when the second ran: both got the same pair.
    assert_eq!(a.access_token, b.access_token);
    assert_eq!(a.refresh_token, b.refresh_token);
    assert_eq!(s.introspect(&a.access_token, true).await["active"], true);
    refresh(&setup, &client, a.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap();
}

on_both_backends!(
    concurrent_refreshes_of_one_token,
    concurrent_exchanges_of_one_code,
    housekeeping_deletes_week_old_grants,
    finishing_while_activity_is_written_does_not_deadlock,
    admin_finish_ends_tokens_and_queues_the_device_sync,
    code_is_exchanged_once_and_a_replay_ends_the_session,
    pkce_and_redirect_rules,
    consent_is_remembered_until_scopes_grow,
    refresh_rotates_and_a_replay_ends_the_session,
    device_flow_states,
    client_credentials_token_has_no_user,
    revocation_ends_the_session_of_its_own_client_only,
    kill_sessions_ends_oauth_tokens_at_once,
    demoted_admin_loses_synapse_admin_at_once,
);

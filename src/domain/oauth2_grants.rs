//! OAuth 2.0 grants: the authorization-code grant (RFC 6749 §4.1, with PKCE, RFC 7636), the
//! device authorization grant (RFC 8628), remembered consent, and the access and refresh tokens
//! a session holds. Plain types and the rules of their life (pending → fulfilled → exchanged,
//! or cancelled; expiry), with time and randomness passed in.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use ulid::Ulid;

use super::{
    scopes::{DEVICE_PREFIX, DEVICE_PREFIX_UNSTABLE, Scope},
    tokens::random_alphanumeric,
};

/// An authorization code may be exchanged this long after the user approved (mas-inventory §5).
pub const CODE_LIFETIME: Duration = Duration::minutes(10);
/// A device code may be polled this long after the device asked (RFC 8628 §3.2 `expires_in`).
pub const DEVICE_CODE_LIFETIME: Duration = Duration::minutes(20);
/// RFC 8628 §3.2 `interval`: how long a device waits between polls, at first.
pub const POLL_INTERVAL: Duration = Duration::seconds(5);
/// RFC 8628 §3.5: after `slow_down`, the interval grows by 5 seconds.
pub const SLOW_DOWN_STEP: Duration = Duration::seconds(5);
/// Authorization codes and device codes: 32 letters and digits, as MAS makes them.
const CODE_LEN: usize = 32;

/// `response_mode`: how `/authorize` hands its answer back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

impl ResponseMode {
    pub const ALL: [Self; 3] = [Self::Query, Self::Fragment, Self::FormPost];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Fragment => "fragment",
            Self::FormPost => "form_post",
        }
    }

    /// A `response_mode` value; `None` when unknown (an `invalid_request`).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mode| mode.as_str() == value)
    }
}

/// RFC 7636 §4.2 `code_challenge_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PkceMethod {
    Plain,
    S256,
}

impl PkceMethod {
    pub const ALL: [Self; 2] = [Self::Plain, Self::S256];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::S256 => "S256",
        }
    }

    /// A `code_challenge_method` value (case-sensitive); `None` when unknown.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|method| method.as_str() == value)
    }
}

/// RFC 7636 §4.1: a `code_verifier` is 43 to 128 characters of
/// `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn is_valid_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The challenge a client sent with its authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkce {
    pub method: PkceMethod,
    pub challenge: String,
}

impl Pkce {
    /// Whether `challenge` can be one: for `S256` the unpadded base64url of a SHA-256 digest (43
    /// characters), for `plain` a verifier itself.
    pub fn is_valid_challenge(method: PkceMethod, challenge: &str) -> bool {
        match method {
            PkceMethod::Plain => is_valid_code_verifier(challenge),
            PkceMethod::S256 => {
                challenge.len() == 43
                    && base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(challenge)
                        .is_ok_and(|digest| digest.len() == 32)
            }
        }
    }

    /// RFC 7636 §4.6: whether `verifier` answers this challenge. A verifier outside the §4.1
    /// grammar never does. Compared in constant time.
    pub fn verify(&self, verifier: &str) -> bool {
        if !is_valid_code_verifier(verifier) {
            return false;
        }
        let expected = match self.method {
            PkceMethod::Plain => verifier.to_owned(),
            PkceMethod::S256 => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes())),
        };
        bool::from(expected.as_bytes().ct_eq(self.challenge.as_bytes()))
    }
}

/// Where an authorization grant is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    /// Waiting for the user to sign in and consent.
    Pending,
    /// The user approved; the code was handed to the client and may be exchanged.
    Fulfilled,
    /// The code was exchanged for tokens (once; a second exchange is a replay).
    Exchanged,
    /// The user declined, or the request was abandoned.
    Cancelled,
}

/// An authorization request (`/authorize`) and what became of it. The code itself is never
/// kept, only its SHA-256 digest (in the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationGrant {
    pub id: Ulid,
    pub client_id: Ulid,
    pub redirect_uri: String,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub response_mode: ResponseMode,
    /// `response_type=code id_token`: an ID token comes back with the code.
    pub response_type_id_token: bool,
    pub pkce: Option<Pkce>,
    pub login_hint: Option<String>,
    /// The `prompt` values asked for, space-separated as sent.
    pub prompt: Option<String>,
    /// OIDC `max_age`, in seconds.
    pub max_age: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub exchanged_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Who approved, from which browser session: set on fulfilment.
    pub user_id: Option<Ulid>,
    pub user_session_id: Option<Ulid>,
    /// The session the exchange started.
    pub session_id: Option<Ulid>,
}

impl AuthorizationGrant {
    pub fn state(&self) -> GrantState {
        if self.cancelled_at.is_some() {
            GrantState::Cancelled
        } else if self.exchanged_at.is_some() {
            GrantState::Exchanged
        } else if self.fulfilled_at.is_some() {
            GrantState::Fulfilled
        } else {
            GrantState::Pending
        }
    }

    /// Whether its code may still be exchanged at `now`: fulfilled, not yet exchanged, and
    /// within [`CODE_LIFETIME`] of fulfilment.
    pub fn code_is_live(&self, now: DateTime<Utc>) -> bool {
        self.state() == GrantState::Fulfilled
            && self
                .fulfilled_at
                .is_some_and(|fulfilled| now < fulfilled + CODE_LIFETIME)
    }

    /// Whether the user may still answer it at `now`: pending, and asked less than
    /// [`CODE_LIFETIME`] ago (an abandoned request is not approved hours later).
    pub fn awaits_user(&self, now: DateTime<Utc>) -> bool {
        self.state() == GrantState::Pending && now < self.created_at + CODE_LIFETIME
    }

    /// Whether the OIDC `prompt` values asked for include `value`.
    pub fn has_prompt(&self, value: &str) -> bool {
        self.prompt
            .as_deref()
            .is_some_and(|prompt| prompt.split(' ').any(|p| p == value))
    }

    /// Whether a browser signed in at `signed_in_at` may answer it at `now` without signing in
    /// again. `prompt=login` (and `create`, handled as login) wants a sign-in made after the
    /// request; `max_age` one at most that many seconds old (OIDC Core §3.1.2.1). A sign-in
    /// made after the request always does, so reading the consent page takes no time off.
    pub fn accepts_sign_in(&self, signed_in_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        if signed_in_at >= self.created_at {
            return true;
        }
        if self.has_prompt("login") || self.has_prompt("create") {
            return false;
        }
        self.max_age
            .is_none_or(|max_age| now - signed_in_at <= Duration::seconds(max_age))
    }
}

/// A fresh authorization code (or device code): 32 letters and digits.
pub fn generate_code(rng: &mut impl Rng) -> String {
    random_alphanumeric(rng, CODE_LEN)
}

/// RFC 8628 §6.1: user codes from letters that cannot be mistaken for one another or for
/// digits, and that spell no words (no vowels): 20^8 ≈ 2.6·10^10 codes.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// A fresh user code, `XXXX-XXXX`.
pub fn generate_user_code(rng: &mut impl Rng) -> String {
    let letters: String = (0..USER_CODE_LEN)
        .map(|_| char::from(USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())]))
        .collect();
    format_user_code(&letters)
}

fn format_user_code(letters: &str) -> String {
    let (a, b) = letters.split_at(USER_CODE_LEN / 2);
    format!("{a}-{b}")
}

/// What a person typed, as the stored `XXXX-XXXX` form: case, spaces and dashes do not matter
/// (RFC 8628 §6.1). `None` when it cannot be a user code.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (letters.len() == USER_CODE_LEN && letters.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then(|| format_user_code(&letters))
}

/// A device authorization (RFC 8628 §3.1) and what became of it. The device code is kept only
/// as its digest; the user code is short-lived and typed by people, so it is kept as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCodeGrant {
    pub id: Ulid,
    pub client_id: Ulid,
    pub scope: Scope,
    pub user_code: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_polled_at: Option<DateTime<Utc>>,
    /// The interval the device must now keep between polls.
    pub interval: Duration,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub exchanged_at: Option<DateTime<Utc>>,
    pub user_id: Option<Ulid>,
    pub user_session_id: Option<Ulid>,
    pub session_id: Option<Ulid>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// What a device's poll of the token endpoint gets (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// The user approved: issue the tokens.
    Ready,
    /// `authorization_pending`.
    Pending,
    /// `slow_down`: polled sooner than the interval allows.
    SlowDown,
    /// `expired_token`.
    Expired,
    /// `access_denied`.
    Denied,
    /// Already exchanged: the code is used up (`invalid_grant`).
    Used,
}

impl DeviceCodeGrant {
    /// A device's request made at `now`: pending, lasting [`DEVICE_CODE_LIFETIME`], polled
    /// every [`POLL_INTERVAL`] at first.
    pub fn new(
        id: Ulid,
        client_id: Ulid,
        scope: Scope,
        user_code: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            client_id,
            scope,
            user_code,
            created_at: now,
            expires_at: now + DEVICE_CODE_LIFETIME,
            last_polled_at: None,
            interval: POLL_INTERVAL,
            fulfilled_at: None,
            rejected_at: None,
            exchanged_at: None,
            user_id: None,
            user_session_id: None,
            session_id: None,
            ip_address: None,
            user_agent: None,
        }
    }

    /// Whether the user can still approve or decline it at `now`.
    pub fn awaits_user(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
            && self.fulfilled_at.is_none()
            && self.rejected_at.is_none()
            && self.exchanged_at.is_none()
    }

    /// What a poll at `now` gets. A poll that comes sooner than the interval after the last
    /// one is told to slow down, whatever the state, except once the code is used up.
    pub fn poll(&self, now: DateTime<Utc>) -> PollOutcome {
        if self.exchanged_at.is_some() {
            return PollOutcome::Used;
        }
        if now >= self.expires_at {
            return PollOutcome::Expired;
        }
        if self
            .last_polled_at
            .is_some_and(|last| now < last + self.interval)
        {
            return PollOutcome::SlowDown;
        }
        if self.rejected_at.is_some() {
            PollOutcome::Denied
        } else if self.fulfilled_at.is_some() {
            PollOutcome::Ready
        } else {
            PollOutcome::Pending
        }
    }
}

/// Whether `requested` needs the user's consent again, given what they already consented to
/// for this client. Device scopes are left out: every login makes a new device, and consent is
/// about what the client may do, not which device it names.
pub fn needs_consent(requested: &Scope, consented: &Scope) -> bool {
    requested
        .iter()
        .filter(|token| !is_device_scope(token))
        .any(|token| !consented.contains(token))
}

/// The part of `scope` that is remembered as consented: all but device scopes.
pub fn consentable(scope: &Scope) -> impl Iterator<Item = &str> {
    scope.iter().filter(|token| !is_device_scope(token))
}

fn is_device_scope(token: &str) -> bool {
    token.starts_with(DEVICE_PREFIX) || token.starts_with(DEVICE_PREFIX_UNSTABLE)
}

/// How many device scopes (stable or unstable, counted by device) `scope` names. MAS allows one
/// device per session.
pub fn device_count(scope: &Scope) -> usize {
    let mut devices: Vec<&str> = scope
        .iter()
        .filter_map(|token| {
            token
                .strip_prefix(DEVICE_PREFIX)
                .or_else(|| token.strip_prefix(DEVICE_PREFIX_UNSTABLE))
        })
        .collect();
    devices.sort_unstable();
    devices.dedup();
    devices.len()
}

/// An OAuth 2.0 access token (`mat_`), stored as its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2AccessToken {
    pub id: Ulid,
    pub session_id: Ulid,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was first used (what a refresh replay check asks about the successor).
    pub first_used_at: Option<DateTime<Utc>>,
}

impl OAuth2AccessToken {
    pub fn is_valid(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}

/// An OAuth 2.0 refresh token (`mar_`), stored as its digest. It does not expire; it rotates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2RefreshToken {
    pub id: Ulid,
    pub session_id: Ulid,
    /// The access token issued with it.
    pub access_token_id: Option<Ulid>,
    pub created_at: DateTime<Utc>,
    pub consumed_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The refresh token that replaced this one when it was consumed.
    pub next_id: Option<Ulid>,
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        let pkce = Pkce {
            method: PkceMethod::S256,
            challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        };
        assert!(Pkce::is_valid_challenge(PkceMethod::S256, &pkce.challenge));
        assert!(pkce.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!pkce.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx"));
        // The challenge itself is not a verifier of an S256 challenge.
        assert!(!pkce.verify(&pkce.challenge));
    }

    #[test]
    fn pkce_plain_and_the_verifier_grammar() {
        let verifier = "a".repeat(43);
        let pkce = Pkce {
            method: PkceMethod::Plain,
            challenge: verifier.clone(),
        };
        assert!(pkce.verify(&verifier));
        assert!(!pkce.verify(&"b".repeat(43)));
        assert!(is_valid_code_verifier(&"A-._~9".repeat(8)));
        assert!(!is_valid_code_verifier(&"a".repeat(42)), "too short");
        assert!(!is_valid_code_verifier(&"a".repeat(129)), "too long");
        assert!(is_valid_code_verifier(&"a".repeat(128)));
        assert!(!is_valid_code_verifier(&format!("{}+", "a".repeat(43))));
        // A plain challenge that is not a valid verifier matches nothing.
        let short = Pkce {
            method: PkceMethod::Plain,
            challenge: "short".to_owned(),
        };
        assert!(!short.verify("short"));
        assert!(!Pkce::is_valid_challenge(PkceMethod::Plain, "short"));
        assert!(!Pkce::is_valid_challenge(PkceMethod::S256, &"a".repeat(44)));
        assert_eq!(PkceMethod::parse("S256"), Some(PkceMethod::S256));
        assert_eq!(PkceMethod::parse("s256"), None, "case-sensitive");
        assert_eq!(
            ResponseMode::parse("form_post"),
            Some(ResponseMode::FormPost)
        );
    }

    fn grant() -> AuthorizationGrant {
        AuthorizationGrant {
            id: Ulid::nil(),
            client_id: Ulid::nil(),
            redirect_uri: "https://client.example/cb".to_owned(),
            scope: Scope::default(),
            state: None,
            nonce: None,
            response_mode: ResponseMode::Query,
            response_type_id_token: false,
            pkce: None,
            login_hint: None,
            prompt: None,
            max_age: None,
            created_at: at(0),
            fulfilled_at: None,
            exchanged_at: None,
            cancelled_at: None,
            user_id: None,
            user_session_id: None,
            session_id: None,
        }
    }

    #[test]
    fn authorization_grant_life() {
        let mut grant = grant();
        assert_eq!(grant.state(), GrantState::Pending);
        assert!(!grant.code_is_live(at(1)), "no code before approval");
        grant.fulfilled_at = Some(at(60));
        assert_eq!(grant.state(), GrantState::Fulfilled);
        assert!(grant.code_is_live(at(60 + 599)));
        assert!(!grant.code_is_live(at(60 + 600)), "10 minutes");
        grant.exchanged_at = Some(at(61));
        assert_eq!(grant.state(), GrantState::Exchanged);
        assert!(!grant.code_is_live(at(62)), "once");
        grant.cancelled_at = Some(at(62));
        assert_eq!(grant.state(), GrantState::Cancelled);
    }

    #[test]
    fn a_request_waits_ten_minutes_for_its_user() {
        let mut grant = grant();
        assert!(grant.awaits_user(at(599)));
        assert!(!grant.awaits_user(at(600)), "10 minutes");
        grant.cancelled_at = Some(at(1));
        assert!(!grant.awaits_user(at(2)), "answered");
    }

    #[test]
    fn prompt_and_max_age_decide_whether_a_sign_in_will_do() {
        let plain = grant();
        assert!(
            plain.accepts_sign_in(at(-86_400), at(10)),
            "any open session"
        );
        let login = AuthorizationGrant {
            prompt: Some("consent login".to_owned()),
            ..grant()
        };
        assert!(login.has_prompt("login") && !login.has_prompt("none"));
        assert!(!login.accepts_sign_in(at(-1), at(10)), "signed in before");
        assert!(login.accepts_sign_in(at(0), at(10)), "signed in after");
        let create = AuthorizationGrant {
            prompt: Some("create".to_owned()),
            ..grant()
        };
        assert!(!create.accepts_sign_in(at(-1), at(10)), "create is login");
        let max_age = AuthorizationGrant {
            max_age: Some(60),
            ..grant()
        };
        assert!(max_age.accepts_sign_in(at(-50), at(10)));
        assert!(!max_age.accepts_sign_in(at(-51), at(10)), "61 s old");
        assert!(
            max_age.accepts_sign_in(at(5), at(500)),
            "a sign-in after the request stays good while the page is read"
        );
    }

    #[test]
    fn user_codes() {
        let mut rng = StdRng::seed_from_u64(9);
        for _ in 0..100 {
            let code = generate_user_code(&mut rng);
            assert_eq!(code.len(), 9);
            assert_eq!(&code[4..5], "-");
            assert_eq!(normalize_user_code(&code), Some(code.clone()));
            let typed = code.to_lowercase().replace('-', " ");
            assert_eq!(normalize_user_code(&typed), Some(code));
        }
        assert_eq!(
            normalize_user_code("bcdf ghjk"),
            Some("BCDF-GHJK".to_owned())
        );
        assert_eq!(normalize_user_code("BCDF-GHJ"), None, "too short");
        assert_eq!(
            normalize_user_code("ABCD-EFGH"),
            None,
            "vowels are not used"
        );
        assert_eq!(normalize_user_code("BCDF-GHJ1"), None);
        assert_eq!(generate_code(&mut rng).len(), 32);
    }

    fn device_grant() -> DeviceCodeGrant {
        DeviceCodeGrant::new(
            Ulid::nil(),
            Ulid::nil(),
            Scope::default(),
            "BCDF-GHJK".to_owned(),
            at(0),
        )
    }

    #[test]
    fn device_polls() {
        let mut grant = device_grant();
        assert!(grant.awaits_user(at(10)));
        assert_eq!(grant.poll(at(1)), PollOutcome::Pending);
        grant.last_polled_at = Some(at(1));
        assert_eq!(grant.poll(at(5)), PollOutcome::SlowDown, "4 s after");
        assert_eq!(grant.poll(at(6)), PollOutcome::Pending, "5 s after");
        grant.fulfilled_at = Some(at(6));
        assert!(!grant.awaits_user(at(7)));
        assert_eq!(grant.poll(at(6)), PollOutcome::Ready);
        grant.exchanged_at = Some(at(7));
        assert_eq!(grant.poll(at(20)), PollOutcome::Used);

        let mut denied = device_grant();
        denied.rejected_at = Some(at(3));
        assert_eq!(denied.poll(at(4)), PollOutcome::Denied);
        assert_eq!(denied.poll(at(20 * 60)), PollOutcome::Expired);
        assert!(!device_grant().awaits_user(at(20 * 60)), "20 minutes");
    }

    #[test]
    fn consent_ignores_devices() {
        let consented = Scope::parse("openid urn:matrix:client:api:*").unwrap_or_default();
        let again = Scope::parse("openid urn:matrix:client:api:* urn:matrix:client:device:NEW")
            .unwrap_or_default();
        assert!(!needs_consent(&again, &consented));
        let more = Scope::parse("openid urn:synapse:admin:*").unwrap_or_default();
        assert!(needs_consent(&more, &consented), "scopes grew");
        assert_eq!(consentable(&again).count(), 2);
        let two = Scope::parse(
            "urn:matrix:client:device:A urn:matrix:org.matrix.msc2967.client:device:A urn:matrix:client:device:B",
        )
        .unwrap_or_default();
        assert_eq!(device_count(&two), 2);
        assert_eq!(device_count(&again), 1);
    }

    #[test]
    fn access_token_validity() {
        let token = OAuth2AccessToken {
            id: Ulid::nil(),
            session_id: Ulid::nil(),
            created_at: at(0),
            expires_at: Some(at(300)),
            revoked_at: None,
            first_used_at: None,
        };
        assert!(token.is_valid(at(299)));
        assert!(!token.is_valid(at(300)));
        let revoked = OAuth2AccessToken {
            revoked_at: Some(at(1)),
            ..token
        };
        assert!(!revoked.is_valid(at(2)));
    }
}

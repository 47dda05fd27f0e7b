//! OAuth 2.0 client authentication (RFC 6749 §2.3, RFC 7523) through a real endpoint:
//! `/oauth2/introspect` takes every method the token endpoint will. An unknown token is
//! `{"active": false}` with 200 once the caller is authenticated, so 200 means "authenticated".
//! Assertions are made with `jsonwebtoken` directly, not with Gatehouse's signing code.

use std::sync::{
    Arc, Mutex, OnceLock,
    atomic::{AtomicUsize, Ordering},
};

use base64::Engine as _;
use gatehouse::{
    crypto::keys::SigningKey,
    domain::{
        Clock,
        oauth2_clients::{GrantType, GrantTypes, OAuth2Client, TokenEndpointAuthMethod as Method},
    },
    http::oauth::{ClientCredentialsForm, authenticate_client},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::SeedableRng;
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde_json::{Value, json};

use crate::{common::TestDb, harness::TestServer, on_both_backends};

const PUBLIC: &str = "01J0000000000000000000CA01";
const BASIC: &str = "01J0000000000000000000CA02";
const POST: &str = "01J0000000000000000000CA03";
const SECRET_JWT: &str = "01J0000000000000000000CA04";
/// `private_key_jwt` with an inline RSA JWK Set.
const KEY_JWT: &str = "01J0000000000000000000CA05";
/// `private_key_jwt` with a `jwks_uri` serving an EC P-256 set.
const KEY_URI: &str = "01J0000000000000000000CA06";

const BASIC_SECRET: &str = "basic secret & more";
const POST_SECRET: &str = "post-secret";
const JWT_SECRET: &str = "a shared secret of at least thirty-two bytes";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct Keys {
    rsa: rsa::RsaPrivateKey,
    ec: p256::SecretKey,
    other_ec: p256::SecretKey,
}

/// Test keys, made once per test binary (RSA generation takes a moment).
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7523);
        Keys {
            rsa: rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key"),
            ec: p256::SecretKey::random(&mut rng),
            other_ec: p256::SecretKey::random(&mut rng),
        }
    })
}

fn rsa_jwk() -> Value {
    SigningKey::Rsa(keys().rsa.clone()).public_jwk("rsa-1")
}

fn ec_jwk(key: &p256::SecretKey, kid: &str) -> Value {
    SigningKey::P256(key.clone()).public_jwk(kid)
}

/// A loopback server publishing a JWK Set that tests may replace, counting fetches.
struct JwksServer {
    url: String,
    served: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(jwks: Value) -> JwksServer {
        use poem::{EndpointExt, Response, Server, endpoint::make, listener::TcpAcceptor};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
        let served = Arc::new(Mutex::new(jwks));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (s, f) = (served.clone(), fetches.clone());
        let endpoint = make(move |_req: poem::Request| {
            let body = s.lock().expect("lock").to_string();
            f.fetch_add(1, Ordering::SeqCst);
            async move {
                Response::builder()
                    .content_type("application/json")
                    .body(body)
            }
        });
        let acceptor = TcpAcceptor::from_tokio(listener).expect("acceptor");
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run(endpoint.map_to_response())
                .await;
        });
        JwksServer {
            url,
            served,
            fetches,
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

struct Setup {
    server: TestServer,
    jwks: JwksServer,
    /// Kept to the end: dropping it deletes a SQLite database.
    _db: TestDb,
}

async fn setup(db: TestDb) -> Setup {
    let jwks = JwksServer::start(json!({"keys": [ec_jwk(&keys().ec, "ec-1")]})).await;
    let server = TestServer::start(&db).await;
    let encrypt = |secret: &str| Some(server.state.encrypter.encrypt_str(secret).expect("encrypt"));
    let client = |id: &str, method: Method| OAuth2Client {
        id: id.parse().expect("ULID"),
        is_static: true,
        encrypted_client_secret: None,
        token_endpoint_auth_method: Some(method),
        jwks: None,
        jwks_uri: None,
        redirect_uris: vec![],
        client_name: None,
        client_uri: None,
        grant_types: GrantTypes::empty().with(GrantType::AuthorizationCode, true),
        metadata: Default::default(),
        created_at: server.clock.now(),
    };
    let clients = [
        client(PUBLIC, Method::None),
        OAuth2Client {
            encrypted_client_secret: encrypt(BASIC_SECRET),
            ..client(BASIC, Method::ClientSecretBasic)
        },
        OAuth2Client {
            encrypted_client_secret: encrypt(POST_SECRET),
            ..client(POST, Method::ClientSecretPost)
        },
        OAuth2Client {
            encrypted_client_secret: encrypt(JWT_SECRET),
            ..client(SECRET_JWT, Method::ClientSecretJwt)
        },
        OAuth2Client {
            jwks: Some(json!({"keys": [rsa_jwk()]}).to_string()),
            ..client(KEY_JWT, Method::PrivateKeyJwt)
        },
        OAuth2Client {
            jwks_uri: Some(jwks.url.clone()),
            ..client(KEY_URI, Method::PrivateKeyJwt)
        },
    ];
    let mut repo = server.store.repo().await.expect("repo");
    for client in &clients {
        repo.oauth2_clients().upsert(client).await.expect("client");
    }
    repo.save().await.expect("save");
    Setup {
        server,
        jwks,
        _db: db,
    }
}

/// What the caller sends besides the token.
#[derive(Default)]
struct Call<'a> {
    basic: Option<(&'a str, &'a str)>,
    /// Send the Basic id and secret as they are, not form-urlencoded (as many clients do).
    raw_basic: bool,
    form: Vec<(&'a str, String)>,
}

impl<'a> Call<'a> {
    fn basic(id: &'a str, secret: &'a str) -> Self {
        Call {
            basic: Some((id, secret)),
            ..Call::default()
        }
    }

    fn raw_basic(id: &'a str, secret: &'a str) -> Self {
        Call {
            raw_basic: true,
            ..Self::basic(id, secret)
        }
    }

    fn form(pairs: &[(&'a str, &str)]) -> Self {
        Call {
            form: pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            ..Call::default()
        }
    }

    fn assertion(jwt: &str) -> Self {
        Self::form(&[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", jwt),
        ])
    }

    fn and(mut self, key: &'a str, value: &str) -> Self {
        self.form.push((key, value.to_owned()));
        self
    }
}

/// What an introspection call answered.
struct Answer {
    status: u16,
    error: Option<String>,
    description: String,
    challenge: Option<String>,
}

async fn introspect(server: &TestServer, call: Call<'_>) -> Answer {
    let mut form = call.form;
    form.push(("token", "mat_unknown".to_owned()));
    let mut request = server
        .http
        .post(server.at("/oauth2/introspect"))
        .form(&form);
    if let Some((id, secret)) = call.basic {
        // RFC 6749 §2.3.1: each half form-urlencoded before base64.
        let encode = |s: &str| {
            if call.raw_basic {
                s.to_owned()
            } else {
                url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
            }
        };
        let value = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(id),
            encode(secret)
        ));
        request = request.header("authorization", format!("Basic {value}"));
    }
    let response = request.send().await.expect("introspect");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = response.json().await.expect("JSON body");
    if status == 200 {
        assert_eq!(body, json!({"active": false}));
    }
    Answer {
        status,
        error: body["error"].as_str().map(str::to_owned),
        description: body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        challenge,
    }
}

/// Asserts a 401 `invalid_client` with the Basic challenge; returns the description.
async fn refused(server: &TestServer, call: Call<'_>, why: &str) -> String {
    let answer = introspect(server, call).await;
    assert_eq!(answer.status, 401, "{why}: {}", answer.description);
    assert_eq!(answer.error.as_deref(), Some("invalid_client"), "{why}");
    assert!(
        answer.challenge.is_some_and(|c| c.starts_with("Basic ")),
        "{why}: a 401 carries a Basic challenge"
    );
    answer.description
}

/// Asserts a refusal whose description says `reason`.
async fn refused_for(server: &TestServer, call: Call<'_>, why: &str, reason: &str) {
    let description = refused(server, call, why).await;
    assert!(
        description.contains(reason),
        "{why}: {description:?} should say {reason:?}"
    );
}

async fn accepted(server: &TestServer, call: Call<'_>, why: &str) {
    let answer = introspect(server, call).await;
    assert_eq!(
        (answer.status, answer.error),
        (200, None),
        "{why}: {}",
        answer.description
    );
}

static JTI: AtomicUsize = AtomicUsize::new(0);

/// RFC 7523 §3 claims for `client_id`, valid for a minute, with a fresh `jti`.
fn claims(server: &TestServer, client_id: &str) -> Value {
    let now = server.clock.now().timestamp();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": server.at("/oauth2/token"),
        "iat": now,
        "exp": now + 60,
        "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::SeqCst)),
    })
}

fn header(alg: Algorithm, kid: Option<&str>) -> Header {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    header
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &header(Algorithm::HS256, None),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256")
}

fn rs256(claims: &Value) -> String {
    let der = keys().rsa.to_pkcs1_der().expect("DER");
    jsonwebtoken::encode(
        &header(Algorithm::RS256, Some("rsa-1")),
        claims,
        &EncodingKey::from_rsa_der(der.as_bytes()),
    )
    .expect("RS256")
}

fn es256(claims: &Value, key: &p256::SecretKey, kid: &str) -> String {
    use p256::pkcs8::EncodePrivateKey;
    let der = key.to_pkcs8_der().expect("DER");
    jsonwebtoken::encode(
        &header(Algorithm::ES256, Some(kid)),
        claims,
        &EncodingKey::from_ec_der(der.as_bytes()),
    )
    .expect("ES256")
}

async fn every_method_succeeds_with_the_right_material(db: TestDb) {
    let Setup { server, jwks, _db } = setup(db).await;
    accepted(
        &server,
        Call::basic(BASIC, BASIC_SECRET),
        "client_secret_basic",
    )
    .await;
    // Regression: a secret sent without form-urlencoding was cut at its `&`.
    accepted(
        &server,
        Call::raw_basic(BASIC, BASIC_SECRET),
        "client_secret_basic, not urlencoded",
    )
    .await;
    accepted(
        &server,
        Call::form(&[("client_id", POST), ("client_secret", POST_SECRET)]),
        "client_secret_post",
    )
    .await;
    let jwt = hs256(&claims(&server, SECRET_JWT), JWT_SECRET.as_bytes());
    accepted(&server, Call::assertion(&jwt), "client_secret_jwt").await;
    let jwt = rs256(&claims(&server, KEY_JWT));
    accepted(
        &server,
        Call::assertion(&jwt),
        "private_key_jwt, inline jwks",
    )
    .await;
    let jwt = es256(&claims(&server, KEY_URI), &keys().ec, "ec-1");
    accepted(
        &server,
        Call::assertion(&jwt).and("client_id", KEY_URI),
        "private_key_jwt, jwks_uri, with a matching client_id",
    )
    .await;
    // The issuer is an audience too.
    let mut to_issuer = claims(&server, KEY_JWT);
    to_issuer["aud"] = json!([server.state.config.http.issuer().as_str()]);
    accepted(&server, Call::assertion(&rs256(&to_issuer)), "aud: issuer").await;

    // `none`: a public client authenticates with its id alone...
    let form = ClientCredentialsForm {
        client_id: Some(PUBLIC.to_owned()),
        ..ClientCredentialsForm::default()
    };
    let authenticated = authenticate_client(&server.state, &Default::default(), &form)
        .await
        .expect("public client");
    assert_eq!(authenticated.method, Method::None);
    assert_eq!(authenticated.client.id.to_string(), PUBLIC);
    // ...but RFC 7662 §2.1 keeps public clients away from introspection.
    refused(
        &server,
        Call::form(&[("client_id", PUBLIC)]),
        "public client introspecting",
    )
    .await;
    // The bearer shared secret of Synapse still works.
    assert_eq!(
        server.introspect("mat_unknown", false).await,
        json!({"active": false})
    );
    assert_eq!(jwks.fetches(), 1);
    server.stop().await;
}

async fn wrong_material_is_refused(db: TestDb) {
    let Setup { server, _db, .. } = setup(db).await;
    refused(
        &server,
        Call::basic(BASIC, "basic secret"),
        "wrong Basic secret",
    )
    .await;
    refused(&server, Call::basic(BASIC, ""), "empty Basic secret").await;
    refused(
        &server,
        Call::form(&[("client_id", POST), ("client_secret", "post-secreT")]),
        "wrong post secret",
    )
    .await;
    let jwt = hs256(
        &claims(&server, SECRET_JWT),
        b"not the client secret at all, no",
    );
    refused_for(
        &server,
        Call::assertion(&jwt),
        "client_secret_jwt, wrong secret",
        "signature does not verify",
    )
    .await;
    let jwt = es256(&claims(&server, KEY_URI), &keys().other_ec, "ec-1");
    refused_for(
        &server,
        Call::assertion(&jwt),
        "private_key_jwt, another key",
        "signature does not verify",
    )
    .await;
    let jwt = es256(&claims(&server, KEY_JWT), &keys().ec, "rsa-1");
    refused(
        &server,
        Call::assertion(&jwt),
        "private_key_jwt, alg the key cannot do",
    )
    .await;
    refused(
        &server,
        Call::basic("01J0000000000000000000CA99", "x"),
        "unknown client",
    )
    .await;
    refused(
        &server,
        Call::basic("not-a-ulid", "x"),
        "malformed client id",
    )
    .await;
    server.stop().await;
}

async fn wrong_method_for_the_client_is_refused(db: TestDb) {
    let Setup { server, _db, .. } = setup(db).await;
    refused_for(
        &server,
        Call::form(&[("client_id", BASIC), ("client_secret", BASIC_SECRET)]),
        "basic client using post",
        "not registered for",
    )
    .await;
    refused_for(
        &server,
        Call::basic(POST, POST_SECRET),
        "post client using basic",
        "not registered for",
    )
    .await;
    refused_for(
        &server,
        Call::basic(SECRET_JWT, JWT_SECRET),
        "secret_jwt client using basic",
        "not registered for",
    )
    .await;
    refused_for(
        &server,
        Call::form(&[("client_id", BASIC)]),
        "basic client with its id only",
        "not registered for",
    )
    .await;
    refused_for(
        &server,
        Call::basic(PUBLIC, "anything"),
        "public client with a secret",
        "not registered for",
    )
    .await;
    let jwt = hs256(&claims(&server, BASIC), BASIC_SECRET.as_bytes());
    refused_for(
        &server,
        Call::assertion(&jwt),
        "basic client with an assertion",
        "not registered for",
    )
    .await;
    // A client_secret_jwt client's assertion must be an HMAC one.
    let jwt = rs256(&claims(&server, SECRET_JWT));
    refused_for(
        &server,
        Call::assertion(&jwt),
        "secret_jwt client signing RS256",
        "not an HMAC algorithm",
    )
    .await;
    server.stop().await;
}

async fn two_methods_at_once_are_a_bad_request(db: TestDb) {
    let Setup { server, _db, .. } = setup(db).await;
    let bad_request = |answer: Answer| {
        assert_eq!(
            (answer.status, answer.error.as_deref()),
            (400, Some("invalid_request")),
            "{}",
            answer.description
        );
    };
    bad_request(
        introspect(
            &server,
            Call::basic(BASIC, BASIC_SECRET).and("client_secret", BASIC_SECRET),
        )
        .await,
    );
    let jwt = rs256(&claims(&server, KEY_JWT));
    bad_request(
        introspect(
            &server,
            Call::assertion(&jwt)
                .and("client_secret", "x")
                .and("client_id", KEY_JWT),
        )
        .await,
    );
    let mut call = Call::basic(KEY_JWT, "x");
    call.form = Call::assertion(&jwt).form;
    bad_request(introspect(&server, call).await);
    // A client_id that contradicts the credentials, and an assertion without its type.
    bad_request(
        introspect(
            &server,
            Call::basic(BASIC, BASIC_SECRET).and("client_id", POST),
        )
        .await,
    );
    bad_request(introspect(&server, Call::form(&[("client_assertion", jwt.as_str())])).await);
    server.stop().await;
}

async fn assertion_claims_are_checked(db: TestDb) {
    let Setup { server, _db, .. } = setup(db).await;
    let now = server.clock.now().timestamp();
    let with = |key: &str, value: Value| {
        let mut claims = claims(&server, KEY_JWT);
        claims[key] = value;
        claims
    };
    for (claims, why, reason) in [
        (with("exp", json!(now - 120)), "expired", "expired"),
        (
            with("aud", json!("https://elsewhere.example/oauth2/token")),
            "wrong aud",
            "`aud`",
        ),
        (
            with("aud", json!(server.at("/oauth2/introspect"))),
            "another endpoint as aud",
            "`aud`",
        ),
        (
            with("iss", json!(BASIC)),
            "iss is not sub",
            "`iss` and `sub`",
        ),
        (with("jti", Value::Null), "no jti", "`jti` is required"),
        (
            with("iat", json!(now - 7200)),
            "issued two hours ago",
            "too long ago",
        ),
    ] {
        refused_for(&server, Call::assertion(&rs256(&claims)), why, reason).await;
    }
    // Expired by the server's clock, not the client's.
    let jwt = rs256(&claims(&server, KEY_JWT));
    server.clock.advance(chrono::Duration::seconds(120));
    refused_for(
        &server,
        Call::assertion(&jwt),
        "expired while in flight",
        "expired",
    )
    .await;
    server.stop().await;
}

async fn replayed_jti_is_refused(db: TestDb) {
    let Setup { server, _db, .. } = setup(db).await;
    let jwt = rs256(&claims(&server, KEY_JWT));
    accepted(&server, Call::assertion(&jwt), "first use").await;
    refused_for(
        &server,
        Call::assertion(&jwt),
        "second use of the same assertion",
        "already used",
    )
    .await;
    // A new assertion reusing the jti is a replay too, and so is one for client_secret_jwt.
    let mut same_jti = claims(&server, KEY_JWT);
    let first: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).expect("claims"))
            .expect("base64"),
    )
    .expect("JSON");
    same_jti["jti"] = first["jti"].clone();
    same_jti["exp"] = json!(server.clock.now().timestamp() + 30);
    refused_for(
        &server,
        Call::assertion(&rs256(&same_jti)),
        "jti reused",
        "already used",
    )
    .await;
    let secret_jwt = hs256(&claims(&server, SECRET_JWT), JWT_SECRET.as_bytes());
    accepted(
        &server,
        Call::assertion(&secret_jwt),
        "client_secret_jwt, first use",
    )
    .await;
    refused_for(
        &server,
        Call::assertion(&secret_jwt),
        "client_secret_jwt, replay",
        "already used",
    )
    .await;
    // jtis are per client: another client may use the same value.
    let mut other_client = claims(&server, SECRET_JWT);
    other_client["jti"] = first["jti"].clone();
    accepted(
        &server,
        Call::assertion(&hs256(&other_client, JWT_SECRET.as_bytes())),
        "same jti, another client",
    )
    .await;

    // Housekeeping forgets jtis once their assertions have expired, and not before.
    let housekeeping = gatehouse::services::housekeeping::Housekeeping::default();
    let swept = housekeeping
        .sweep(&server.store, &server.clock)
        .await
        .expect("sweep");
    assert_eq!(swept.client_assertion_jtis, 0);
    refused_for(
        &server,
        Call::assertion(&jwt),
        "still remembered",
        "already used",
    )
    .await;
    server.clock.advance(chrono::Duration::seconds(60 + 31));
    let swept = housekeeping
        .sweep(&server.store, &server.clock)
        .await
        .expect("sweep");
    assert_eq!(swept.client_assertion_jtis, 3);
    // The expired assertion stays refused on its `exp`.
    refused_for(
        &server,
        Call::assertion(&jwt),
        "expired after the sweep",
        "expired",
    )
    .await;
    server.stop().await;
}

async fn unsigned_and_confused_assertions_are_refused(db: TestDb) {
    let Setup { server, _db, .. } = setup(db).await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims_text = b64(&claims(&server, KEY_JWT));
    for alg in ["none", "None"] {
        let header = b64(&json!({"alg": alg, "typ": "JWT"}));
        refused_for(
            &server,
            Call::assertion(&format!("{header}.{claims_text}.")),
            "alg none",
            "unsigned",
        )
        .await;
    }
    // HS256 keyed with the client's public key, in the forms an attacker would try.
    let public_inline = json!({"keys": [rsa_jwk()]}).to_string();
    for secret in [public_inline.clone(), rsa_jwk().to_string()] {
        let jwt = hs256(&claims(&server, KEY_JWT), secret.as_bytes());
        refused_for(
            &server,
            Call::assertion(&jwt),
            "HS256 with the public key",
            "cannot be verified with a public key",
        )
        .await;
    }
    let jwt = hs256(
        &claims(&server, KEY_URI),
        ec_jwk(&keys().ec, "ec-1").to_string().as_bytes(),
    );
    refused_for(
        &server,
        Call::assertion(&jwt),
        "HS256 with the fetched public key",
        "cannot be verified with a public key",
    )
    .await;

    // An assertion over 16 KiB is refused before anything else is looked at.
    let mut big = claims(&server, KEY_JWT);
    big["padding"] = json!("x".repeat(16 * 1024));
    let jwt = rs256(&big);
    refused_for(
        &server,
        Call::assertion(&jwt),
        "oversize assertion",
        "larger than",
    )
    .await;
    server.stop().await;
}

async fn jwks_uri_is_cached_and_fetched_again_for_a_new_key(db: TestDb) {
    let Setup { server, jwks, _db } = setup(db).await;
    for _ in 0..3 {
        let jwt = es256(&claims(&server, KEY_URI), &keys().ec, "ec-1");
        accepted(&server, Call::assertion(&jwt), "cached set").await;
    }
    assert_eq!(jwks.fetches(), 1, "fetched once, then cached");

    // The client rotates to a new key.
    *jwks.served.lock().expect("lock") = json!({"keys": [ec_jwk(&keys().other_ec, "ec-2")]});
    let rotated = es256(&claims(&server, KEY_URI), &keys().other_ec, "ec-2");
    // Within 30 seconds of the last fetch, an unknown kid does not make Gatehouse fetch again.
    refused_for(
        &server,
        Call::assertion(&rotated),
        "unknown kid, fetched recently",
        "no key with kid",
    )
    .await;
    assert_eq!(jwks.fetches(), 1);
    server.clock.advance(chrono::Duration::seconds(31));
    let rotated = es256(&claims(&server, KEY_URI), &keys().other_ec, "ec-2");
    accepted(
        &server,
        Call::assertion(&rotated),
        "new key after a refetch",
    )
    .await;
    assert_eq!(jwks.fetches(), 2);
    let old = es256(&claims(&server, KEY_URI), &keys().ec, "ec-1");
    refused(&server, Call::assertion(&old), "the retired key").await;

    // A set over the size cap is refused.
    let big: Vec<Value> = (0..200)
        .map(|i| ec_jwk(&keys().ec, &format!("k{i}")))
        .collect();
    *jwks.served.lock().expect("lock") = json!({"keys": big});
    server.clock.advance(chrono::Duration::minutes(6));
    let mut uncached = claims(&server, KEY_URI);
    uncached["iat"] = json!(server.clock.now().timestamp());
    // The last good set is used when a fetch fails: the rotated key still works...
    let jwt = es256(&uncached, &keys().other_ec, "ec-2");
    accepted(
        &server,
        Call::assertion(&jwt),
        "stale set after a failed fetch",
    )
    .await;
    assert_eq!(jwks.fetches(), 3);
    server.stop().await;
}

on_both_backends!(
    every_method_succeeds_with_the_right_material,
    wrong_material_is_refused,
    wrong_method_for_the_client_is_refused,
    two_methods_at_once_are_a_bad_request,
    assertion_claims_are_checked,
    replayed_jti_is_refused,
    unsigned_and_confused_assertions_are_refused,
    jwks_uri_is_cached_and_fetched_again_for_a_new_key,
);

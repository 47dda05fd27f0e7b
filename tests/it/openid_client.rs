//! npm `openid-client` (v6, OpenID certified) as the relying party against Gatehouse, on both
//! backends: discovery, dynamic registration, code + PKCE + nonce with the ID token checked
//! against the JWKS, userinfo, refresh rotation, revocation, the device grant through `/link`,
//! client_credentials with each client authentication method, and Element Web's two shapes.
//! The node script (`tests/clients/openid-client/rp.mjs`) is the client; this test is the
//! person, signing in and consenting on the real pages over HTTP.

use gatehouse::config::{ClientAuthMethod, ClientConfig};
use serde_json::{Value, json};

use crate::{
    browser::{Browser, Page},
    common::TestDb,
    hardening::Setup,
    html_forms::{Form, forms},
    node_peer::{NodePeer, Said, node_modules},
    on_both_backends,
};

const USERNAME: &str = "alice";
/// `hardening::Setup::register`'s password.
const PASSWORD: &str = "correct horse battery staple";

const NONE_CLIENT: &str = "01J0000000000000000000RP01";
const BASIC_CLIENT: &str = "01J0000000000000000000RP02";
const POST_CLIENT: &str = "01J0000000000000000000RP03";
const SECRET_JWT_CLIENT: &str = "01J0000000000000000000RP04";
const KEY_JWT_CLIENT: &str = "01J0000000000000000000RP05";
const SECRET: &str = "a client secret of at least thirty-two bytes, for HS256";

/// The private key of the `private_key_jwt` client, made per test, as a JWK for the peer.
struct ClientKey {
    private_jwk: Value,
    public_jwks: Value,
}

fn client_key() -> ClientKey {
    use rand::SeedableRng;
    let key = p256::SecretKey::random(&mut rand::rngs::StdRng::seed_from_u64(7523));
    let mut private_jwk: Value = serde_json::from_str(&key.to_jwk_string()).expect("a JWK is JSON");
    private_jwk["kid"] = json!("rp-key-1");
    private_jwk["alg"] = json!("ES256");
    let mut public_jwk: Value =
        serde_json::from_str(&key.public_key().to_jwk_string()).expect("a JWK is JSON");
    public_jwk["kid"] = json!("rp-key-1");
    public_jwk["alg"] = json!("ES256");
    public_jwk["use"] = json!("sig");
    ClientKey {
        private_jwk,
        public_jwks: json!({"keys": [public_jwk]}),
    }
}

struct Rp {
    setup: Setup,
    key: ClientKey,
    /// Kept to the end: dropping it deletes a SQLite database.
    _db: TestDb,
}

fn static_client(id: &str, method: ClientAuthMethod) -> ClientConfig {
    ClientConfig {
        client_id: id.parse().expect("a ULID"),
        client_auth_method: method,
        client_name: Some(format!("static {}", method.as_str())),
        client_secret: method.uses_secret().then(|| SECRET.to_owned()),
        client_secret_file: None,
        jwks: None,
        jwks_uri: None,
        redirect_uris: vec!["http://127.0.0.1/callback".parse().expect("URL")],
        client_uri: None,
    }
}

/// A server with one user and the static clients (synced with `config sync`, as an admin does).
async fn rp(db: TestDb) -> Rp {
    let key = client_key();
    let jwks = key.public_jwks.clone();
    let admin_clients = [BASIC_CLIENT, POST_CLIENT, SECRET_JWT_CLIENT, KEY_JWT_CLIENT];
    let setup = Setup::start_with(&db, |config| {
        config.clients = vec![
            static_client(NONE_CLIENT, ClientAuthMethod::None),
            static_client(BASIC_CLIENT, ClientAuthMethod::ClientSecretBasic),
            static_client(POST_CLIENT, ClientAuthMethod::ClientSecretPost),
            static_client(SECRET_JWT_CLIENT, ClientAuthMethod::ClientSecretJwt),
            ClientConfig {
                jwks: Some(jwks),
                ..static_client(KEY_JWT_CLIENT, ClientAuthMethod::PrivateKeyJwt)
            },
        ];
        config.policy = serde_yaml_ng::to_value(json!({"data": {"admin_clients": admin_clients}}))
            .expect("policy YAML");
    })
    .await;
    setup.cli(&["config", "sync"]);
    setup.register(USERNAME, false).await;
    Rp {
        setup,
        key,
        _db: db,
    }
}

impl Rp {
    fn issuer(&self) -> String {
        self.setup.server.state.config.http.issuer().to_string()
    }

    fn peer(&self, scenario: &str, extra: Value) -> Option<NodePeer> {
        let modules = node_modules()?;
        let mut input = json!({"issuer": self.issuer()});
        if let (Some(input), Value::Object(extra)) = (input.as_object_mut(), extra) {
            input.extend(extra);
        }
        Some(NodePeer::start(&modules, "rp.mjs", scenario, &input))
    }

    /// Run `scenario`, answering its questions as the person; its result.
    async fn run(&self, scenario: &str, extra: Value) -> Option<Value> {
        let mut peer = self.peer(scenario, extra)?;
        let mut person = Person::new(&self.setup.server.url);
        loop {
            match peer.next().await {
                Said::Ask(question, details) if question == "authorize" => {
                    let url = details["url"].as_str().expect("the authorization URL");
                    let back = person.authorize(url).await;
                    peer.answer(&back).await;
                }
                Said::Ask(question, details) if question == "device" => {
                    person.link(&details).await;
                    peer.answer("approved").await;
                }
                Said::Ask(question, _) => panic!("{scenario}: unexpected question {question:?}"),
                Said::Done(result) => {
                    peer.exited().await;
                    return Some(result);
                }
            }
        }
    }

    async fn introspect(&self, token: &str) -> Value {
        self.setup.server.introspect(token, true).await
    }

    /// Synapse, introspecting each of `tokens` (JSON strings), is told it is over.
    async fn assert_ended(&self, tokens: &[&Value], why: &str) {
        for token in tokens {
            let token = token.as_str().expect("a token");
            let answer = self.introspect(token).await;
            assert_eq!(answer["active"], false, "{why}: {token} is {answer}");
        }
    }
}

/// The person at the browser: signs in when asked, says yes to consent, enters user codes.
struct Person {
    browser: Browser,
    base: url::Url,
}

/// Pages a flow may pass through before it ends (sign-in, consent, and their redirects).
const MAX_STEPS: usize = 12;

impl Person {
    fn new(base: &str) -> Person {
        Person {
            browser: Browser::new(base),
            base: base.parse().expect("server URL"),
        }
    }

    fn ours(&self, url: &url::Url) -> bool {
        url.origin() == self.base.origin()
    }

    /// Follow `url` through the pages until Gatehouse sends the browser back to the client;
    /// that redirect's target.
    async fn authorize(&mut self, url: &str) -> String {
        let mut at: url::Url = url.parse().expect("authorization URL");
        let mut page = self.browser.get(at.as_str()).await;
        for _ in 0..MAX_STEPS {
            if let Some(location) = page
                .location()
                .filter(|_| (300..400).contains(&page.status))
            {
                let next = at.join(&location).expect("a Location URL");
                if !self.ours(&next) {
                    return next.to_string();
                }
                at = next;
                page = self.browser.get(at.as_str()).await;
                continue;
            }
            let (form, fill) = self.next_form(&page, &at, None);
            (at, page) = self.submit(&at, &form, &fill).await;
        }
        panic!(
            "the authorization did not come back to the client in {MAX_STEPS} steps; last at {at}"
        )
    }

    /// Enter the user code on `/link` (signing in on the way) and approve the device.
    async fn link(&mut self, device: &Value) {
        let user_code = device["user_code"].as_str().expect("user_code");
        let verification = device["verification_uri"]
            .as_str()
            .expect("verification_uri");
        let mut at: url::Url = verification.parse().expect("verification_uri is a URL");
        assert!(self.ours(&at), "the verification URI {at} is Gatehouse's");
        let mut page = self.browser.get(at.as_str()).await;
        let mut consented = false;
        for _ in 0..MAX_STEPS {
            if let Some(location) = page
                .location()
                .filter(|_| (300..400).contains(&page.status))
            {
                at = at.join(&location).expect("a Location URL");
                page = self.browser.get(at.as_str()).await;
                continue;
            }
            assert_eq!(page.status, 200, "{at}: {}", page.body);
            if consented {
                // After the yes, a page that says the device may go on.
                return;
            }
            let (form, fill) = self.next_form(&page, &at, Some(user_code));
            // Neither the sign-in form nor the code form: the consent.
            consented = !form.has_input_of_kind("password") && form.typed_inputs().next().is_none();
            (at, page) = self.submit(&at, &form, &fill).await;
        }
        panic!("the device link did not finish in {MAX_STEPS} steps; last at {at}")
    }

    /// The page's forms that move a flow on (not the sign-out form of the layout).
    fn actionable(page: &Page) -> impl Iterator<Item = Form> {
        forms(&page.body)
            .into_iter()
            .filter(|f| f.method == "post" && !f.action.contains("logout"))
    }

    /// The form to submit on `page` and what to type into it: credentials on the sign-in form,
    /// the user code on the code form, nothing on consent.
    fn next_form(
        &self,
        page: &Page,
        at: &url::Url,
        user_code: Option<&str>,
    ) -> (Form, Vec<(String, String)>) {
        assert_eq!(page.status, 200, "{at}: unexpected page: {}", page.body);
        let form = Self::actionable(page)
            .next()
            .unwrap_or_else(|| panic!("{at}: no form to go on with: {}", page.body));
        let mut fill = Vec::new();
        if form.has_input_of_kind("password") {
            for input in form.typed_inputs() {
                fill.push((input.name.clone(), USERNAME.to_owned()));
            }
            for input in form.inputs.iter().filter(|i| i.kind == "password") {
                fill.push((input.name.clone(), PASSWORD.to_owned()));
            }
        } else if let Some(code) = user_code {
            for input in form.typed_inputs() {
                fill.push((input.name.clone(), code.to_owned()));
            }
        }
        (form, fill)
    }

    async fn submit(
        &mut self,
        at: &url::Url,
        form: &Form,
        fill: &[(String, String)],
    ) -> (url::Url, Page) {
        let target = at.join(&form.action).expect("a form action URL");
        let fill: Vec<(&str, &str)> = fill.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let pairs = form.submission(&fill, form.affirmative_button());
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let page = self.browser.post_form(target.as_str(), &pairs).await;
        (target, page)
    }
}

/// Discovery, registration, code + PKCE + nonce, the ID token against the JWKS, userinfo,
/// refresh twice, and the first refresh token refused once its successor was used.
async fn code_flow_with_refresh(db: TestDb) {
    let rp = rp(db).await;
    let Some(result) = rp.run("code-flow", json!({})).await else {
        return;
    };
    assert_eq!(result["userinfo"]["sub"], result["sub"]);
    assert_eq!(result["claims"]["iss"].as_str(), Some(rp.issuer().as_str()));
    assert_eq!(result["claims"]["aud"], result["client_id"]);
    assert_eq!(result["replay"]["error"], "invalid_grant");
    // The replay of a spent refresh token ends the session (RFC 9700 §4.14.2).
    let tokens: Vec<&Value> = result["access_tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .collect();
    rp.assert_ended(&tokens, "after the replay").await;
}

/// The device grant: the user code entered on `/link`, userinfo, then revocation ends the
/// session, refresh token included.
async fn device_grant_and_revocation(db: TestDb) {
    let rp = rp(db).await;
    let Some(result) = rp.run("device", json!({})).await else {
        return;
    };
    assert_eq!(result["userinfo"]["sub"], result["sub"]);
    assert_eq!(result["userinfo_after"], 401);
    assert_eq!(result["refresh"]["error"], "invalid_grant");
    rp.assert_ended(&[&result["access_token"]], "after the revocation")
        .await;
}

/// matrix-js-sdk up to v41 (on oidc-client-ts): openid, unstable scopes, nonce, query mode.
async fn element_web_legacy_shape(db: TestDb) {
    let rp = rp(db).await;
    let Some(result) = rp.run("element-web-legacy", json!({})).await else {
        return;
    };
    let token = result["access_token"].as_str().expect("token");
    let introspected = rp.introspect(token).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["username"], USERNAME);
    let scope = introspected["scope"].as_str().unwrap_or_default();
    assert!(
        scope.contains("urn:matrix:org.matrix.msc2967.client:api:*"),
        "{scope}"
    );
}

/// matrix-js-sdk v42: stable scopes, fragment mode, no OpenID Connect.
async fn element_web_shape(db: TestDb) {
    let rp = rp(db).await;
    let Some(result) = rp.run("element-web", json!({})).await else {
        return;
    };
    let scope = result["scope"].as_str().unwrap_or_default();
    assert!(scope.contains("urn:matrix:client:api:*"), "{scope}");
    assert!(!scope.split(' ').any(|s| s == "openid"), "{scope}");
    let tokens = [&result["access_token"], &result["refreshed_access_token"]];
    rp.assert_ended(&tokens, "after the logout").await;
}

/// client_credentials for the static confidential clients, one per authentication method;
/// the public (`none`) client is refused.
async fn client_credentials_each_method(db: TestDb) {
    let rp = rp(db).await;
    let clients = json!([
        {"method": "client_secret_basic", "client_id": BASIC_CLIENT, "secret": SECRET, "scope": "urn:mas:admin"},
        {"method": "client_secret_post", "client_id": POST_CLIENT, "secret": SECRET, "scope": "urn:mas:admin"},
        {"method": "client_secret_jwt", "client_id": SECRET_JWT_CLIENT, "secret": SECRET, "scope": "urn:mas:admin"},
        {"method": "private_key_jwt", "client_id": KEY_JWT_CLIENT, "private_jwk": rp.key.private_jwk, "scope": "urn:mas:admin"},
        {"method": "none", "client_id": NONE_CLIENT, "scope": "urn:mas:admin", "refused": "unauthorized_client"},
    ]);
    let Some(result) = rp
        .run("client-credentials", json!({"clients": clients}))
        .await
    else {
        return;
    };
    let results = result["results"].as_array().expect("results");
    assert_eq!(results.len(), 5);
    for (got, id) in
        results
            .iter()
            .zip([BASIC_CLIENT, POST_CLIENT, SECRET_JWT_CLIENT, KEY_JWT_CLIENT])
    {
        let token = got["access_token"].as_str().expect("an access token");
        let introspected = rp.introspect(token).await;
        assert_eq!(
            introspected["active"], true,
            "{}: {introspected}",
            got["method"]
        );
        assert_eq!(introspected["client_id"], id, "{}", got["method"]);
    }
    assert_eq!(results[4]["error"], "unauthorized_client");
}

on_both_backends!(
    code_flow_with_refresh,
    device_grant_and_revocation,
    element_web_legacy_shape,
    element_web_shape,
    client_credentials_each_method,
);

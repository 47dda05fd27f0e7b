//! Tests for the configuration module: defaults, loading, merging, warnings, errors,
//! validation rules, database URLs, secret files and generation.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::SeedableRng;
use serde_yaml_ng::Value;

use super::*;

const HEX_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The smallest configuration that validates: everything without a default.
fn base_yaml() -> String {
    format!(
        "secrets:\n  encryption: {HEX_KEY}\n  keys:\n    - key: not-parsed-here\nmatrix:\n  secret: s3cret\n"
    )
}

/// `base_yaml()` with `overlay` written over it as if it were one document: maps merge, and
/// anything else (lists included) in the overlay replaces the base's value. This is not how
/// files merge (lists concatenate there); it lets each case state the whole value it tests.
fn load_with(overlay: &str) -> Result<Loaded, ConfigError> {
    fn overwrite(base: &mut Value, overlay: Value) {
        match (base, overlay) {
            (Value::Mapping(base), Value::Mapping(overlay)) => {
                for (key, value) in overlay {
                    match base.get_mut(&key) {
                        Some(existing) => overwrite(existing, value),
                        None => {
                            base.insert(key, value);
                        }
                    }
                }
            }
            (base, overlay) => *base = overlay,
        }
    }
    let mut value: Value = serde_yaml_ng::from_str(&base_yaml()).expect("base parses");
    let overlay: Value = serde_yaml_ng::from_str(overlay).expect("overlay parses");
    overwrite(&mut value, overlay);
    from_value(value)
}

fn error_of(overlay: &str) -> String {
    match load_with(overlay) {
        Ok(loaded) => panic!("expected an error, got {:?}", loaded.config),
        Err(e) => e.to_string(),
    }
}

fn assert_error_starts(overlay: &str, prefix: &str) {
    let message = error_of(overlay);
    assert!(
        message.starts_with(prefix),
        "error {message:?} should start with {prefix:?}"
    );
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

#[test]
fn every_default() {
    let loaded = from_str(&base_yaml()).expect("minimal config loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;

    // http
    assert_eq!(c.http.public_base.as_str(), "http://localhost:8080/");
    assert_eq!(c.http.issuer, None);
    assert_eq!(c.http.issuer().as_str(), "http://localhost:8080/");
    assert_eq!(
        c.http.trusted_proxies,
        [
            "192.168.0.0/16",
            "172.16.0.0/12",
            "10.0.0.0/8",
            "127.0.0.0/8",
            "fd00::/8",
            "::1/128"
        ]
    );
    assert_eq!(c.http.listeners.len(), 2);
    let web = &c.http.listeners[0];
    assert_eq!(web.name, "web");
    assert_eq!(
        web.resources,
        [
            Resource::Discovery,
            Resource::Human,
            Resource::OAuth,
            Resource::Compat,
            Resource::GraphQL {
                playground: false,
                undocumented_oauth2_access: false
            },
            Resource::Assets {
                path: PathBuf::from("./share/assets/")
            },
        ]
    );
    assert_eq!(
        web.binds,
        [BindConfig::Address {
            address: "[::]:8080".into()
        }]
    );
    assert!(!web.proxy_protocol);
    assert_eq!(web.prefix, None);
    assert_eq!(web.tls, None);
    let internal = &c.http.listeners[1];
    assert_eq!(internal.name, "internal");
    assert_eq!(internal.resources, [Resource::Health]);
    assert_eq!(
        internal.binds,
        [BindConfig::Listen {
            host: Some("localhost".into()),
            port: 8081
        }]
    );

    // database
    let db = &c.database;
    assert_eq!(db.uri, None);
    assert_eq!(db.max_connections, 10);
    assert_eq!(db.min_connections, 0);
    assert_eq!(db.connect_timeout, 30);
    assert_eq!(db.idle_timeout, Some(600));
    assert_eq!(db.max_lifetime, Some(1800));
    assert_eq!(db.connection_url().expect("url"), DEFAULT_DATABASE_URI);
    assert!(!db.is_sqlite());

    // matrix
    assert_eq!(c.matrix.kind, HomeserverKind::Synapse);
    assert_eq!(c.matrix.homeserver, "localhost:8008");
    assert_eq!(c.matrix.endpoint.as_str(), "http://localhost:8008/");
    assert_eq!(c.matrix.secret().expect("secret"), "s3cret");

    // passwords
    assert!(c.passwords.enabled);
    assert_eq!(c.passwords.minimum_complexity, 3);
    assert_eq!(c.passwords.schemes.len(), 1);
    let scheme = &c.passwords.schemes[0];
    assert_eq!(scheme.version, 1);
    assert_eq!(scheme.algorithm, PasswordAlgorithm::Argon2id);
    assert_eq!(scheme.cost, None);
    assert_eq!(scheme.bcrypt_cost(), 12);
    assert!(!scheme.unicode_normalization);
    assert_eq!(scheme.pepper().expect("pepper"), None);

    // account
    let a = &c.account;
    assert!(a.email_change_allowed);
    assert!(a.displayname_change_allowed);
    assert!(!a.password_registration_enabled);
    assert!(a.password_registration_email_required);
    assert!(!a.password_registration_token_required);
    assert!(!a.registration_token_required);
    assert!(a.password_change_allowed);
    assert!(!a.password_recovery_enabled);
    assert!(a.account_deactivation_allowed);
    assert!(!a.login_with_email_allowed);

    // clients, email
    assert!(c.clients.is_empty());
    assert_eq!(c.email.from, "\"Authentication Service\" <root@localhost>");
    assert_eq!(
        c.email.reply_to,
        "\"Authentication Service\" <root@localhost>"
    );
    assert_eq!(c.email.transport, EmailTransportKind::Blackhole);
    assert_eq!(
        c.email.transport().expect("transport"),
        EmailTransport::Blackhole
    );

    // rate limiting
    let r = &c.rate_limiting;
    let lim = |burst, per_second| RateLimiterConfig { burst, per_second };
    assert_eq!(r.account_recovery.per_ip, lim(3, 0.0008));
    assert_eq!(r.account_recovery.per_address, lim(3, 0.0002));
    assert_eq!(r.login.per_ip, lim(3, 0.05));
    assert_eq!(r.login.per_account, lim(1800, 0.5));
    assert_eq!(r.registration, lim(3, 0.0008));
    assert_eq!(r.email_authentication.per_ip, lim(5, 0.016666));
    assert_eq!(r.email_authentication.per_address, lim(3, 0.000277));
    assert_eq!(r.email_authentication.emails_per_session, lim(2, 0.003333));
    assert_eq!(
        r.email_authentication.attempt_per_session,
        lim(10, 0.016666)
    );
    assert_eq!(r.compat_sso_redirect, lim(30, 0.1));
    assert_eq!(r.device_code_entry.per_ip, lim(10, 0.1));
    assert_eq!(r.device_code_entry.per_user, lim(10, 0.1));
    assert_eq!(r.device_authorization, lim(10, 0.1));

    // experimental, oauth, branding, captcha
    assert_eq!(c.experimental.access_token_ttl, 300);
    assert_eq!(c.experimental.compat_token_ttl, 300);
    assert_eq!(c.experimental.inactive_session_expiration, None);
    assert_eq!(c.experimental.plan_management_iframe_uri, None);
    assert!(c.oauth.device_code_grant_enabled);
    assert!(!c.oauth.device_code_user_code_auto_fill_enabled);
    assert_eq!(c.branding, BrandingConfig::default());
    assert_eq!(c.branding.service_name, None);
    assert_eq!(c.captcha.service, None);

    assert_eq!(c.templates, TemplatesConfig::default());

    // untyped sections
    assert!(c.upstream_oauth2.providers.is_empty());
    for value in [&c.telemetry, &c.policy] {
        assert_eq!(value, &Value::Mapping(Default::default()));
    }
}

#[test]
fn mas_example_loads_without_warnings() {
    let loaded = load(&[fixture("mas-example.yaml")]).expect("MAS example loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;

    // MAS's keys besides `path` are parsed (not used yet), without a warning.
    assert_eq!(
        c.templates,
        TemplatesConfig {
            path: Some("/usr/local/share/mas-cli/templates/".into()),
            assets_manifest: Some("/usr/local/share/mas-cli/manifest.json".into()),
            translations_path: Some("/usr/local/share/mas-cli/translations/".into()),
        }
    );
    assert_eq!(c.http.public_base.as_str(), "https://auth.example.com/");
    assert_eq!(c.http.listeners.len(), 3);
    assert!(c.http.listeners[0].resources.contains(&Resource::AdminApi));
    assert_eq!(
        c.http.listeners[0].binds[1],
        BindConfig::Listen {
            host: Some("0.0.0.0".into()),
            port: 8090
        }
    );
    assert_eq!(
        c.http.listeners[1].binds[1..],
        [
            BindConfig::Unix {
                socket: "/run/mas/internal.sock".into(),
                mode: Some(0o660)
            },
            BindConfig::FileDescriptor {
                fd: 3,
                kind: FdKind::Tcp
            }
        ]
    );
    assert_eq!(
        c.http.listeners[1].resources,
        [
            Resource::Health,
            Resource::Prometheus,
            Resource::ConnectionInfo
        ]
    );
    assert_eq!(c.http.listeners[1].prefix.as_deref(), Some("/internal"));
    assert!(c.http.listeners[2].tls.is_some());

    assert_eq!(c.database.ssl_mode, Some(PgSslMode::VerifyFull));
    assert_eq!(c.database.max_connections, 20);
    assert_eq!(c.secrets.keys.len(), 3);
    assert_eq!(c.passwords.schemes[0].algorithm, PasswordAlgorithm::Bcrypt);
    assert_eq!(
        c.passwords.schemes[0].pepper().expect("pepper"),
        Some(b"synapse-pepper".to_vec())
    );
    assert_eq!(c.passwords.current_scheme().map(|s| s.version), Some(2));
    assert_eq!(c.matrix.homeserver, "example.com");
    assert_eq!(c.clients.len(), 3);
    assert_eq!(
        c.clients[0].client_id.to_string(),
        "01JC9R4V8B5D7M3N2P6Q8S0T1W"
    );
    assert_eq!(
        c.clients[1].client_auth_method,
        ClientAuthMethod::PrivateKeyJwt
    );
    assert_eq!(c.captcha.service, Some(CaptchaService::Hcaptcha));
    assert_eq!(c.rate_limiting.login.per_ip.burst, 5);
    assert_eq!(c.experimental.access_token_ttl, 600);
    assert_eq!(
        c.experimental
            .inactive_session_expiration
            .as_ref()
            .map(|e| (e.ttl, e.expire_user_sessions)),
        Some((2_592_000, false))
    );
    assert!(c.oauth.device_code_user_code_auto_fill_enabled);
    match c.email.transport().expect("transport") {
        EmailTransport::Smtp {
            mode,
            hostname,
            port,
            credentials,
        } => {
            assert_eq!(mode, SmtpMode::Starttls);
            assert_eq!(hostname, "smtp.example.com");
            assert_eq!(port, Some(587));
            assert_eq!(credentials, Some(("mailer".into(), "mail-password".into())));
        }
        other => panic!("unexpected transport {other:?}"),
    }
    let google = &c.upstream_oauth2.providers[0];
    assert_eq!(google.synapse_idp_id.as_deref(), Some("oidc-google"));
    assert_eq!(
        google.client_secret().expect("secret").as_deref(),
        Some("google-client-secret")
    );
    assert_eq!(google.auth_method(), "client_secret_post");
    assert!(c.policy.get("data").is_some());
    assert!(c.telemetry.get("tracing").is_some());

    // The loaded config dumps and reloads to the same thing.
    let dumped = to_yaml(&c).expect("dump");
    let reloaded = from_str(&dumped).expect("reload");
    assert!(reloaded.warnings.is_empty(), "{:?}", reloaded.warnings);
    assert_eq!(reloaded.config, c);
}

#[test]
fn files_merge_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first.yaml");
    let second = dir.path().join("second.yaml");
    let empty = dir.path().join("empty.yaml");
    std::fs::write(
        &first,
        format!(
            "{}http:\n  public_base: https://one.example/\n  trusted_proxies: [10.0.0.0/8, 127.0.0.0/8]\naccount:\n  password_registration_enabled: true\n  email_change_allowed: false\npasswords:\n  minimum_complexity: 1\n",
            base_yaml()
        ),
    )
    .expect("write");
    std::fs::write(
        &second,
        "http:\n  issuer: https://issuer.example/\n  trusted_proxies: [192.168.0.0/16]\naccount:\n  email_change_allowed: true\npasswords:\n  minimum_complexity: 4\n",
    )
    .expect("write");
    std::fs::write(&empty, "# only a comment\n").expect("write");

    let loaded = load(&[first, empty, second]).expect("merged config loads");
    let c = loaded.config;
    // Maps merge deep: public_base from the first file, issuer from the second.
    assert_eq!(c.http.public_base.as_str(), "https://one.example/");
    assert_eq!(c.http.issuer().as_str(), "https://issuer.example/");
    // Later scalars win; untouched keys survive.
    assert!(c.account.email_change_allowed);
    assert!(c.account.password_registration_enabled);
    assert_eq!(c.passwords.minimum_complexity, 4);
    // Sequences are concatenated, as MAS does.
    assert_eq!(
        c.http.trusted_proxies,
        ["10.0.0.0/8", "127.0.0.0/8", "192.168.0.0/16"]
    );
    // Secrets from the first file are still there.
    assert_eq!(c.matrix.secret().expect("secret"), "s3cret");
}

#[test]
fn merge_values_concatenates_sequences_and_replaces_scalars() {
    let mut base: Value = serde_yaml_ng::from_str("a: {b: 1, c: [1, 2]}\nd: x").expect("yaml");
    let overlay: Value = serde_yaml_ng::from_str("a: {c: [3]}\nd: {e: 1}").expect("yaml");
    merge_values(&mut base, overlay);
    let expected: Value =
        serde_yaml_ng::from_str("a: {b: 1, c: [1, 2, 3]}\nd: {e: 1}").expect("yaml");
    assert_eq!(base, expected);
}

#[test]
fn missing_file_and_bad_yaml_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.yaml");
    let message = load(std::slice::from_ref(&missing))
        .expect_err("missing file")
        .to_string();
    assert!(message.contains("nope.yaml"), "{message}");

    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "http:\n  public_base: [unclosed\n").expect("write");
    let error = load(&[broken]).expect_err("bad YAML");
    assert!(matches!(error, ConfigError::Yaml { .. }), "{error:?}");
    assert!(error.to_string().contains("broken.yaml"), "{error}");
}

#[test]
fn unknown_keys_are_warnings_with_full_path() {
    let loaded = load_with(
        "http:\n  listners: []\n  listeners:\n    - name: web\n      resources: [{name: health}]\n      binds:\n        - address: '[::]:8080'\n          adress: typo\npasswords:\n  schemes:\n    - version: 1\n      colour: blue\nfrobnicate: true\n",
    )
    .expect("unknown keys are not errors");
    let expected = [
        "unknown configuration key \"http.listners\" (ignored)",
        "unknown configuration key \"http.listeners[0].binds[0].adress\" (ignored)",
        "unknown configuration key \"passwords.schemes[0].colour\" (ignored)",
        "unknown configuration key \"frobnicate\" (ignored)",
    ];
    for warning in expected {
        assert!(
            loaded.warnings.iter().any(|w| w == warning),
            "missing {warning:?} in {:?}",
            loaded.warnings
        );
    }
    assert_eq!(
        loaded.warnings.len(),
        expected.len(),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn deprecated_alias_warns() {
    let loaded = load_with("account:\n  registration_token_required: true\n").expect("loads");
    assert!(loaded.config.account.token_required_for_registration());
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("registration_token_required is deprecated"))
    );
}

#[test]
fn bad_value_error_names_the_key_path() {
    let message = error_of(
        "passwords:\n  schemes:\n    - version: 1\n      algorithm: bcrypt\n    - version: 2\n      algorithm: md5\n",
    );
    assert!(
        message.starts_with("passwords.schemes[1].algorithm: unknown variant"),
        "{message}"
    );
    assert!(message.contains("md5"), "{message}");
    assert!(message.contains("argon2id"), "{message}");

    assert_error_starts(
        "database:\n  max_connections: lots\n",
        "database.max_connections:",
    );
    assert_error_starts(
        "http:\n  listeners:\n    - name: web\n      resources: [{name: teapot}]\n      binds: [{port: 1}]\n",
        "http.listeners[0].resources[0].name: unknown variant `teapot`",
    );
    assert_error_starts(
        "http:\n  listeners:\n    - name: web\n      binds: [{address: 'a:1', port: 2}]\n",
        "http.listeners[0].binds[0]:",
    );
    assert_error_starts(
        "clients:\n  - client_id: not-a-ulid\n    client_auth_method: none\n",
        "clients[0].client_id:",
    );
}

#[test]
fn validation_rules() {
    let cases: &[(&str, &str)] = &[
        (
            "passwords:\n  minimum_complexity: 5\n",
            "passwords.minimum_complexity:",
        ),
        (
            "passwords:\n  schemes:\n    - version: 1\n    - version: 2\n    - version: 1\n",
            "passwords.schemes[2].version: duplicate version 1",
        ),
        ("passwords:\n  schemes: []\n", "passwords.schemes:"),
        (
            "passwords:\n  schemes:\n    - version: 1\n      algorithm: bcrypt\n      cost: 3\n",
            "passwords.schemes[0].cost:",
        ),
        (
            "passwords:\n  schemes:\n    - version: 1\n      algorithm: bcrypt\n      cost: 32\n",
            "passwords.schemes[0].cost:",
        ),
        ("secrets:\n  encryption: abcd\n", "secrets.encryption:"),
        (
            "secrets:\n  encryption: zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
            "secrets.encryption:",
        ),
        (
            "secrets:\n  encryption_file: /x\n",
            "secrets.encryption: `encryption` and `encryption_file` are mutually exclusive",
        ),
        ("secrets:\n  keys: []\n", "secrets.keys:"),
        (
            "secrets:\n  keys:\n    - key: a\n      key_file: /b\n",
            "secrets.keys[0].key:",
        ),
        (
            "secrets:\n  keys:\n    - kid: lonely\n",
            "secrets.keys[0].key:",
        ),
        (
            "matrix:\n  secret_file: /x\n",
            "matrix.secret: `secret` and `secret_file` are mutually exclusive",
        ),
        (
            "http:\n  listeners:\n    - name: web\n      resources: [{name: human}]\n",
            "http.listeners[0].binds:",
        ),
        (
            "http:\n  listeners:\n    - name: web\n      binds: [{address: 'no-port'}]\n",
            "http.listeners[0].binds[0].address:",
        ),
        (
            "http:\n  listeners:\n    - name: web\n      binds: [{address: 'host:99999'}]\n",
            "http.listeners[0].binds[0].address:",
        ),
        (
            "http:\n  public_base: ftp://example.com/\n",
            "http.public_base:",
        ),
        (
            "http:\n  trusted_proxies: [not-a-cidr]\n",
            "http.trusted_proxies[0]:",
        ),
        ("database:\n  uri: mysql://x/y\n", "database.uri:"),
        (
            "database:\n  uri: postgresql:///x\n  host: db\n",
            "database.uri:",
        ),
        (
            "database:\n  max_connections: 0\n",
            "database.max_connections:",
        ),
        (
            "clients:\n  - client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W\n    client_auth_method: client_secret_post\n",
            "clients[0].client_secret:",
        ),
        (
            "clients:\n  - client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W\n    client_auth_method: private_key_jwt\n",
            "clients[0].jwks:",
        ),
        (
            "clients:\n  - client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W\n    client_auth_method: client_secret_jwt\n",
            "clients[0].client_secret:",
        ),
        (
            "clients:\n  - client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W\n    client_auth_method: client_secret_basic\n",
            "clients[0].client_secret:",
        ),
        (
            "clients:\n  - client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W\n    client_auth_method: private_key_jwt\n    jwks: {keys: []}\n",
            "clients[0].jwks: invalid JWK Set",
        ),
        (
            "clients:\n  - client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W\n    client_auth_method: private_key_jwt\n    jwks: [1]\n",
            "clients[0].jwks: invalid JWK Set",
        ),
        (
            "clients:\n  - client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W\n    client_auth_method: private_key_jwt\n    jwks_uri: http://keys.example.org/jwks.json\n",
            "clients[0].jwks_uri: must be an https URL",
        ),
        (
            "clients:\n  - client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W\n    client_auth_method: private_key_jwt\n    jwks_uri: ftp://127.0.0.1/jwks.json\n",
            "clients[0].jwks_uri: must be an https URL",
        ),
        (
            "clients:\n  - client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W\n    client_auth_method: none\n  - client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W\n    client_auth_method: none\n",
            "clients[1].client_id: duplicate",
        ),
        ("email:\n  transport: smtp\n", "email.mode:"),
        ("captcha:\n  service: recaptcha_v2\n", "captcha.site_key:"),
        (
            "rate_limiting:\n  registration:\n    burst: 0\n    per_second: 1\n",
            "rate_limiting.registration.burst:",
        ),
    ];
    for (overlay, prefix) in cases {
        assert_error_starts(overlay, prefix);
    }

    // The "neither" halves need the base value removed rather than overridden.
    let mut value: Value = serde_yaml_ng::from_str(&base_yaml()).expect("yaml");
    if let Some(matrix) = value.get_mut("matrix").and_then(Value::as_mapping_mut) {
        matrix.remove("secret");
    }
    let message = from_value(value).expect_err("no matrix secret").to_string();
    assert!(
        message.starts_with("matrix.secret: one of `secret` or `secret_file` is required"),
        "{message}"
    );
    let mut value: Value = serde_yaml_ng::from_str(&base_yaml()).expect("yaml");
    if let Some(secrets) = value.get_mut("secrets").and_then(Value::as_mapping_mut) {
        secrets.remove("keys");
    }
    let message = from_value(value).expect_err("no keys").to_string();
    assert!(message.starts_with("secrets.keys:"), "{message}");

    // keys_dir alone is enough; disabled passwords may have no schemes.
    load_with("secrets:\n  keys: []\n  keys_dir: /etc/keys\npasswords:\n  enabled: false\n  schemes: []\n")
        .expect("keys_dir replaces keys");
}

#[test]
fn bind_shapes_parse() {
    let loaded = load_with(
        "http:\n  listeners:\n    - name: x\n      binds:\n        - address: '127.0.0.1:80'\n        - address: ':8080'\n        - port: 81\n        - socket: /tmp/s\n        - fd: 4\n          kind: unix\n        - kind: tcp\n",
    )
    .expect("binds parse");
    assert_eq!(
        loaded.config.http.listeners[0].binds,
        [
            BindConfig::Address {
                address: "127.0.0.1:80".into()
            },
            BindConfig::Address {
                address: ":8080".into()
            },
            BindConfig::Listen {
                host: None,
                port: 81
            },
            BindConfig::Unix {
                socket: "/tmp/s".into(),
                mode: None
            },
            BindConfig::FileDescriptor {
                fd: 4,
                kind: FdKind::Unix
            },
            BindConfig::FileDescriptor {
                fd: 3,
                kind: FdKind::Tcp
            },
        ]
    );
}

#[test]
fn sqlite_uris() {
    let db = |uri: &str| DatabaseConfig {
        uri: Some(uri.to_owned()),
        ..DatabaseConfig::default()
    };

    let absolute = db("sqlite:///var/lib/gatehouse/gatehouse.db");
    assert!(absolute.is_sqlite());
    assert_eq!(
        absolute.connection_url().expect("url"),
        "sqlite:///var/lib/gatehouse/gatehouse.db?mode=rwc"
    );

    let cwd = std::env::current_dir().expect("cwd");
    let relative = db("sqlite://rel.db").connection_url().expect("url");
    assert_eq!(
        relative,
        format!("sqlite://{}?mode=rwc", cwd.join("rel.db").display())
    );
    let nested = db("sqlite://data/x.db").connection_url().expect("url");
    assert_eq!(
        nested,
        format!("sqlite://{}?mode=rwc", cwd.join("data/x.db").display())
    );

    // An explicit query is kept.
    assert_eq!(
        db("sqlite:///x.db?mode=ro").connection_url().expect("url"),
        "sqlite:///x.db?mode=ro"
    );

    // sqlx understands the result and sees the absolute path.
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str(&absolute.connection_url().expect("url"))
            .expect("sqlx parses");
    assert_eq!(
        options.get_filename(),
        Path::new("/var/lib/gatehouse/gatehouse.db")
    );
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&relative).expect("sqlx parses");
    assert_eq!(options.get_filename(), cwd.join("rel.db"));

    // SQLite URIs pass validation.
    load_with("database:\n  uri: sqlite://gatehouse.db\n").expect("sqlite uri is valid");
}

#[test]
fn postgres_urls() {
    let uri = DatabaseConfig {
        uri: Some("postgres://u:p@h/d".into()),
        ..DatabaseConfig::default()
    };
    assert_eq!(uri.connection_url().expect("url"), "postgres://u:p@h/d");

    let fields = DatabaseConfig {
        host: Some("db.example.com".into()),
        port: Some(5433),
        username: Some("mas user".into()),
        password: Some("p@ss/w:rd?#%".into()),
        database: Some("mas/db".into()),
        ssl_mode: Some(PgSslMode::VerifyFull),
        ssl_ca_file: Some("/etc/ca.pem".into()),
        ..DatabaseConfig::default()
    };
    let url = fields.connection_url().expect("url");
    assert_eq!(
        url,
        "postgresql://mas%20user:p%40ss%2Fw%3Ard%3F%23%25@db.example.com:5433/mas%2Fdb?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"
    );
    let parsed = url::Url::parse(&url).expect("valid URL");
    assert_eq!(parsed.host_str(), Some("db.example.com"));
    assert_eq!(parsed.port(), Some(5433));
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).expect("sqlx parses");
    assert_eq!(options.get_host(), "db.example.com");
    assert_eq!(options.get_port(), 5433);
    assert_eq!(options.get_username(), "mas user");
    assert_eq!(options.get_database(), Some("mas/db"));

    // password_file is read and trimmed; a socket becomes the host parameter.
    let dir = tempfile::tempdir().expect("tempdir");
    let password_file = dir.path().join("pw");
    std::fs::write(&password_file, "fr@m/file\n").expect("write");
    let socket = DatabaseConfig {
        socket: Some("/run/postgresql".into()),
        username: Some("mas".into()),
        password_file: Some(password_file),
        database: Some("mas".into()),
        ..DatabaseConfig::default()
    };
    let url = socket.connection_url().expect("url");
    assert_eq!(
        url,
        "postgresql:///mas?user=mas&password=fr%40m%2Ffile&host=%2Frun%2Fpostgresql"
    );
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).expect("sqlx parses");
    assert_eq!(
        options.get_socket(),
        Some(&PathBuf::from("/run/postgresql"))
    );
    assert_eq!(options.get_username(), "mas");
    assert_eq!(options.get_database(), Some("mas"));

    // The field form from the MAS example.
    let loaded = load(&[fixture("mas-example.yaml")]).expect("loads");
    let url = loaded.config.database.connection_url().expect("url");
    assert!(
        url.starts_with("postgresql://mas_user:p%40ss%2Fword@db.example.com:5432/mas?"),
        "{url}"
    );
}

#[test]
fn secret_files_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, content: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        path
    };
    let encryption = write("enc", format!("{HEX_KEY}\n").as_bytes());
    let matrix = write("matrix", b"  matrix-secret \n");
    let pepper = write("pepper", b"pep\n");
    let key = write("k.pem", b"PEM-A");
    let key_password = write("k.pass", b"hunter2\r\n");
    let keys_dir = dir.path().join("keys");
    std::fs::create_dir(&keys_dir).expect("mkdir");
    std::fs::write(keys_dir.join("b.der"), [0x30, 0x82]).expect("write");
    std::fs::write(keys_dir.join("a.pem"), b"PEM-B").expect("write");
    std::fs::write(keys_dir.join(".hidden"), b"skip").expect("write");
    std::fs::create_dir(keys_dir.join("subdir")).expect("mkdir");

    let yaml = format!(
        "secrets:\n  encryption_file: {enc}\n  keys:\n    - kid: inline\n      key: PEM-I\n      password: pw\n    - key_file: {key}\n      password_file: {kp}\n  keys_dir: {dir}\nmatrix:\n  secret_file: {matrix}\npasswords:\n  schemes:\n    - version: 1\n      secret_file: {pepper}\n",
        enc = encryption.display(),
        key = key.display(),
        kp = key_password.display(),
        dir = keys_dir.display(),
        matrix = matrix.display(),
        pepper = pepper.display(),
    );
    let c = from_str(&yaml).expect("loads").config;

    let mut expected_key = [0u8; 32];
    hex::decode_to_slice(HEX_KEY, &mut expected_key).expect("hex");
    assert_eq!(c.secrets.encryption_key().expect("key"), expected_key);
    assert_eq!(c.matrix.secret().expect("secret"), "matrix-secret");
    assert_eq!(
        c.passwords.schemes[0].pepper().expect("pepper"),
        Some(b"pep".to_vec())
    );

    let keys = c.secrets.key_sources().expect("keys");
    let summary: Vec<_> = keys
        .iter()
        .map(|k| {
            (
                k.kid.as_deref(),
                k.pem_or_der.as_slice(),
                k.password.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Some("inline"), b"PEM-I".as_slice(), Some(b"pw".as_slice())),
            (None, b"PEM-A".as_slice(), Some(b"hunter2".as_slice())),
            (None, b"PEM-B".as_slice(), None),
            (None, [0x30, 0x82].as_slice(), None),
        ]
    );

    // A missing referenced file names the key.
    let missing = SecretsConfig {
        encryption_file: Some(dir.path().join("absent")),
        ..SecretsConfig::default()
    };
    let message = missing.encryption_key().expect_err("missing").to_string();
    assert!(
        message.starts_with("secrets.encryption_file: "),
        "{message}"
    );
}

#[test]
fn config_paths_follow_mas_rules() {
    assert_eq!(config_paths(&[], None), [PathBuf::from("config.yaml")]);
    assert_eq!(config_paths(&[], Some("")), [PathBuf::from("config.yaml")]);
    assert_eq!(
        config_paths(&[], Some("a.yaml:b.yaml")),
        [PathBuf::from("a.yaml"), PathBuf::from("b.yaml")]
    );
    assert_eq!(
        config_paths(&[PathBuf::from("cli.yaml")], Some("a.yaml")),
        [PathBuf::from("cli.yaml")]
    );
}

#[test]
fn generate_round_trips_and_redacts() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let config = generate(&mut rng).expect("generate");

    let encryption = config.secrets.encryption.clone().expect("encryption");
    assert_eq!(encryption.len(), 64);
    assert!(encryption.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(config.secrets.keys.len(), 2);
    for key in &config.secrets.keys {
        let kid = key.kid.as_deref().expect("kid");
        assert_eq!(kid.len(), 10);
        assert!(kid.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    let rsa = config.secrets.keys[0].key.as_deref().expect("rsa pem");
    assert!(rsa.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{rsa}");
    let ec = config.secrets.keys[1].key.as_deref().expect("ec pem");
    assert!(ec.starts_with("-----BEGIN EC PRIVATE KEY-----"), "{ec}");
    let secret = config.matrix.secret.clone().expect("matrix secret");
    assert_eq!(secret.len(), 32);
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(config.http, HttpConfig::default());
    assert_eq!(config.database, DatabaseConfig::default());
    assert_eq!(config.passwords, PasswordsConfig::default());

    let yaml = to_yaml(&config).expect("dump");
    let reloaded = from_str(&yaml).expect("generated config loads");
    assert!(reloaded.warnings.is_empty(), "{:?}", reloaded.warnings);
    assert_eq!(reloaded.config, config);
    assert_eq!(to_yaml(&reloaded.config).expect("dump"), yaml);

    // Dumps carry the secrets; Debug output does not.
    assert!(yaml.contains(&encryption) && yaml.contains(&secret));
    let debug = format!("{config:?}");
    assert!(!debug.contains(&encryption), "encryption key leaked");
    assert!(!debug.contains(&secret), "matrix secret leaked");
    assert!(!debug.contains("PRIVATE KEY"), "signing key leaked");
    assert!(debug.contains("[redacted]"));
}

#[test]
fn debug_redacts_other_secrets() {
    let loaded = load(&[fixture("mas-example.yaml")]).expect("loads");
    let debug = format!("{:?}", loaded.config);
    for secret in [
        "p@ss/word",
        "mail-password",
        "synapse-pepper",
        "shared-secret-with-synapse",
        "hcaptcha-secret-key",
        "admin-tool-secret",
        "not-a-real-key",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug output");
    }
}

#[test]
fn client_key_material_that_passes() {
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    });
    for client in [
        format!("{{client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W, client_auth_method: private_key_jwt, jwks: {{keys: [{jwk}]}}}}"),
        "{client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W, client_auth_method: private_key_jwt, jwks_uri: 'https://keys.example.org/jwks.json'}".to_owned(),
        "{client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W, client_auth_method: private_key_jwt, jwks_uri: 'http://127.0.0.1:8080/jwks.json'}".to_owned(),
        "{client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W, client_auth_method: private_key_jwt, jwks_uri: 'http://[::1]:8080/jwks.json'}".to_owned(),
        "{client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W, client_auth_method: private_key_jwt, jwks_uri: 'http://localhost/jwks.json'}".to_owned(),
        "{client_id: 01JC9R4V8B5D7M3N2P6Q8S0T1W, client_auth_method: client_secret_jwt, client_secret: s}".to_owned(),
    ] {
        let overlay = format!("clients:\n  - {client}\n");
        if let Err(e) = load_with(&overlay) {
            panic!("{client}: {e}");
        }
    }
}

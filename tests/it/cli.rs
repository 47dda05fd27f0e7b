//! The `gatehouse` binary end to end: config generate/check, database migrate, every `manage`
//! verb and its error cases, on both backends.

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use gatehouse::{
    domain::oauth2_clients::{GrantType, TokenEndpointAuthMethod},
    store::Store,
};
use tempfile::TempDir;

use crate::{common::TestDb, on_both_backends};

pub struct GatehouseCli {
    pub dir: TempDir,
    pub files: Vec<PathBuf>,
}

pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("MAS_CONFIG")
        .env("RUST_LOG", "warn");
    command
}

impl GatehouseCli {
    /// A generated config (with cheap test password schemes and no listeners) plus a second file
    /// pointing the database at `db`, so every test also exercises merging of `-c` files.
    pub fn new(db: &TestDb) -> GatehouseCli {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = binary()
            .args(["config", "generate"])
            .current_dir(dir.path())
            .output()
            .expect("run config generate");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut config: serde_yaml_ng::Value =
            serde_yaml_ng::from_slice(&output.stdout).expect("generated YAML");
        config["passwords"] = serde_yaml_ng::from_str(
            "minimum_complexity: 3\nschemes:\n  - {version: 1, algorithm: bcrypt, cost: 4, unicode_normalization: true}\n  - {version: 2, algorithm: argon2id}\n",
        )
        .expect("passwords YAML");
        config["http"]["listeners"] = serde_yaml_ng::Value::Sequence(Vec::new());
        let base = dir.path().join("config.yaml");
        std::fs::write(&base, serde_yaml_ng::to_string(&config).expect("YAML"))
            .expect("write config");
        let overlay = dir.path().join("database.yaml");
        std::fs::write(
            &overlay,
            format!(
                // No homeserver in these tests: read-only mode skips writes; reads fail and warn.
                "database:\n  uri: {uri:?}\n  max_connections: 4\nmatrix:\n  kind: synapse_read_only\n  endpoint: http://127.0.0.1:9/\n",
                uri = db.config_uri()
            ),
        )
        .expect("write overlay");
        GatehouseCli {
            dir,
            files: vec![base, overlay],
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut command = binary();
        for file in &self.files {
            command.arg("-c").arg(file);
        }
        command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run gatehouse")
    }

    /// Run and expect success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "gatehouse {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Run and expect failure; returns stderr, which must hold one `error:` line.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !output.status.success(),
            "gatehouse {args:?} should have failed; stderr:\n{stderr}"
        );
        assert!(
            stderr.contains("error: "),
            "no error line for {args:?}:\n{stderr}"
        );
        stderr
    }
}

const STRONG: &str = "correct-horse-battery-staple-42";

async fn manage_verbs_work_and_fail_clearly(db: TestDb) {
    let cli = GatehouseCli::new(&db);
    cli.ok(&["database", "migrate"]);
    cli.ok(&["database", "migrate"]); // idempotent

    cli.ok(&[
        "manage",
        "register-user",
        "alice",
        "-p",
        STRONG,
        "-e",
        "alice@example.org",
        "-y",
    ]);
    cli.ok(&["manage", "register-user", "bob", "-y", "-a", "-d", "Bob"]);
    // Duplicate username, weak password, invalid email, invalid username.
    assert!(
        cli.fails(&["manage", "register-user", "alice", "-y"])
            .contains("already taken")
    );
    assert!(
        cli.fails(&["manage", "register-user", "carol", "-p", "password", "-y"])
            .contains("too weak")
    );
    cli.ok(&[
        "manage",
        "register-user",
        "carol",
        "-p",
        "password",
        "-y",
        "--ignore-password-complexity",
    ]);
    assert!(
        cli.fails(&[
            "manage",
            "register-user",
            "dave",
            "-e",
            "not-an-email",
            "-y"
        ])
        .contains("not a valid email")
    );
    assert!(
        cli.fails(&["manage", "register-user", "Dave!", "-y"])
            .contains("invalid username")
    );
    assert!(
        cli.fails(&["manage", "register-user", "-y"])
            .contains("username is required")
    );

    // Unknown user, for every verb that takes one.
    for args in [
        vec!["manage", "set-password", "nobody", STRONG],
        vec!["manage", "add-email", "nobody", "n@example.org"],
        vec!["manage", "promote-admin", "nobody"],
        vec!["manage", "demote-admin", "nobody"],
        vec!["manage", "lock-user", "nobody"],
        vec!["manage", "unlock-user", "nobody"],
        vec!["manage", "kill-sessions", "nobody"],
        vec!["manage", "issue-compatibility-token", "nobody"],
    ] {
        let stderr = cli.fails(&args);
        assert!(
            stderr.contains("no user named \"nobody\""),
            "{args:?}: {stderr}"
        );
    }

    cli.ok(&[
        "manage",
        "set-password",
        "alice",
        "another-Strong-passphrase-7",
    ]);
    assert!(
        cli.fails(&["manage", "set-password", "alice", "abc"])
            .contains("too weak")
    );
    cli.ok(&[
        "manage",
        "set-password",
        "alice",
        "abc",
        "--ignore-complexity",
    ]);
    cli.ok(&["manage", "add-email", "alice", "Alice2@Example.org"]);
    assert!(
        cli.fails(&["manage", "add-email", "alice", "alice2@example.org"])
            .contains("already an email")
    );
    assert!(
        cli.fails(&["manage", "add-email", "alice", "bad@"])
            .contains("not a valid email")
    );

    assert_eq!(cli.ok(&["manage", "list-admin-users"]), "bob\n");
    cli.ok(&["manage", "promote-admin", "alice"]);
    assert_eq!(cli.ok(&["manage", "list-admin-users"]), "alice\nbob\n");
    cli.ok(&["manage", "demote-admin", "bob"]);
    assert_eq!(cli.ok(&["manage", "list-admin-users"]), "alice\n");

    // Tokens are printed on stdout, alone.
    let token = cli.ok(&[
        "manage",
        "issue-compatibility-token",
        "alice",
        "ALICEDEVICE",
    ]);
    assert!(
        token.trim().starts_with("mct_") && token.trim().len() == 41,
        "{token:?}"
    );
    let admin_token = cli.ok(&[
        "manage",
        "issue-compatibility-token",
        "alice",
        "--yes-i-want-to-grant-synapse-admin-privileges",
    ]);
    assert!(admin_token.starts_with("mct_"));
    let dry = cli.ok(&["manage", "kill-sessions", "alice", "--dry-run"]);
    assert_eq!(dry.lines().count(), 2, "{dry}");
    assert!(dry.contains("ALICEDEVICE"));
    cli.ok(&["manage", "kill-sessions", "alice"]);
    assert_eq!(
        cli.ok(&["manage", "kill-sessions", "alice", "--dry-run"]),
        ""
    );

    let registration = cli.ok(&[
        "manage",
        "issue-user-registration-token",
        "--token",
        "welcome-1",
        "--usage-limit",
        "3",
        "--expires-in",
        "3600",
    ]);
    assert_eq!(registration, "welcome-1\n");
    assert!(
        cli.fails(&[
            "manage",
            "issue-user-registration-token",
            "--token",
            "welcome-1"
        ])
        .contains("already exists")
    );
    let random = cli.ok(&["manage", "issue-user-registration-token", "--unlimited"]);
    assert_eq!(random.trim().len(), 20);
    let output = cli.run(&[
        "manage",
        "issue-user-registration-token",
        "--unlimited",
        "--usage-limit",
        "2",
    ]);
    assert!(!output.status.success());

    cli.ok(&["manage", "lock-user", "carol"]);
    cli.ok(&["manage", "unlock-user", "carol"]);
    cli.ok(&["manage", "lock-user", "carol", "--deactivate"]);
    cli.ok(&["manage", "unlock-user", "carol", "--reactivate"]);
    cli.ok(&["manage", "provision-all-users"]);
    cli.ok(&["manage", "verify-email", "alice", "alice@example.org"]);

    // What the verbs did, read back through the store.
    let store: Store = db.store().await;
    let mut reader = store.reader().await.unwrap();
    let alice = reader
        .users()
        .find_by_username("alice")
        .await
        .unwrap()
        .unwrap();
    assert!(alice.can_request_admin);
    let emails: Vec<String> = reader
        .emails()
        .list_for_user(alice.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.email)
        .collect();
    assert_eq!(emails, ["alice@example.org", "Alice2@Example.org"]);
    let password = reader.passwords().active(alice.id).await.unwrap().unwrap();
    assert_eq!(password.version, 2, "new passwords use the highest scheme");
    assert!(password.hashed_password.starts_with("$argon2id$"));
    let carol = reader
        .users()
        .find_by_username("carol")
        .await
        .unwrap()
        .unwrap();
    assert!(carol.is_active());
    let bob = reader
        .users()
        .find_by_username("bob")
        .await
        .unwrap()
        .unwrap();
    assert!(reader.passwords().active(bob.id).await.unwrap().is_none());
    assert!(
        reader
            .compat()
            .active_sessions(alice.id)
            .await
            .unwrap()
            .is_empty()
    );
    let registration = reader
        .registration_tokens()
        .find_by_token("welcome-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(registration.usage_limit, Some(3));
    assert!(registration.expires_at.is_some());
}

async fn config_sync_copies_static_clients(db: TestDb) {
    let cli = GatehouseCli::new(&db);
    let clients = cli.dir.path().join("clients.yaml");
    std::fs::write(
        &clients,
        "clients:\n  - client_id: 01J0000000000000000000C001\n    client_auth_method: client_secret_basic\n    client_secret: s3cret\n    redirect_uris: [\"https://app.example.org/cb\"]\n  - client_id: 01J0000000000000000000C002\n    client_auth_method: none\n",
    )
    .unwrap();
    let mut with_clients = GatehouseCli {
        dir: tempfile::tempdir().unwrap(),
        files: cli.files.clone(),
    };
    with_clients.files.push(clients.clone());
    let output = with_clients.run(&["config", "sync", "--dry-run"]);
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("2 added, 0 updated, 0 removed (dry run")
    );
    let store = db.store().await;
    assert!(
        store
            .reader()
            .await
            .unwrap()
            .oauth2_clients()
            .list_static()
            .await
            .unwrap()
            .is_empty()
    );

    let output = with_clients.run(&["config", "sync"]);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("2 added"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = with_clients.run(&["config", "sync"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("0 added, 0 updated, 0 removed"));
    let stored = store
        .reader()
        .await
        .unwrap()
        .oauth2_clients()
        .list_static()
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    // The configured auth method and the grants it allows, as typed domain values.
    assert_eq!(
        stored[0].token_endpoint_auth_method,
        Some(TokenEndpointAuthMethod::ClientSecretBasic)
    );
    assert!(stored[0].allows_grant(GrantType::ClientCredentials));
    assert_eq!(
        stored[0].redirect_uris,
        ["https://app.example.org/cb".parse::<url::Url>().unwrap()]
    );
    assert_eq!(
        stored[1].token_endpoint_auth_method,
        Some(TokenEndpointAuthMethod::None)
    );
    assert!(stored[1].allows_grant(GrantType::AuthorizationCode));
    assert!(
        !stored[1].allows_grant(GrantType::ClientCredentials),
        "a public client gets no client_credentials grant"
    );
    let secret = stored[0].encrypted_client_secret.as_deref().unwrap();
    assert!(
        !secret.contains("s3cret"),
        "client secrets are encrypted at rest"
    );

    // Without the clients file: kept unless --prune.
    let output = cli.run(&["config", "sync"]);
    assert!(output.status.success());
    assert_eq!(
        store
            .reader()
            .await
            .unwrap()
            .oauth2_clients()
            .list_static()
            .await
            .unwrap()
            .len(),
        2
    );
    let output = cli.run(&["config", "sync", "--prune"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("2 removed"));
    assert!(
        store
            .reader()
            .await
            .unwrap()
            .oauth2_clients()
            .list_static()
            .await
            .unwrap()
            .is_empty()
    );
}

/// Issue 13, defect 10: `config generate -o` and `config dump -o` (and `manage export-users
/// -o`, which writes password hashes) created files others could read. Run under umask 022, a
/// plainly created file would be 0644; these must be 0600.
async fn cli_files_with_secrets_are_owner_only(db: TestDb) {
    use std::os::unix::fs::PermissionsExt;
    let cli = GatehouseCli::new(&db);
    cli.ok(&["database", "migrate"]);
    cli.ok(&["manage", "register-user", "alice", "-p", STRONG, "-y"]);
    let under_umask_022 = |args: &[&str]| {
        let mut command = Command::new("sh");
        command
            .args(["-c", "umask 022 && exec \"$@\"", "sh"])
            .arg(env!("CARGO_BIN_EXE_gatehouse"))
            .env_remove("GATEHOUSE_CONFIG")
            .env_remove("MAS_CONFIG")
            .env("RUST_LOG", "warn")
            .current_dir(cli.dir.path());
        for file in &cli.files {
            command.arg("-c").arg(file);
        }
        let output = command.args(args).output().expect("run gatehouse");
        assert!(
            output.status.success(),
            "gatehouse {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let mode = |name: &str| {
        std::fs::metadata(cli.dir.path().join(name))
            .expect("written")
            .permissions()
            .mode()
            & 0o777
    };
    under_umask_022(&["config", "generate", "-o", "generated.yaml"]);
    assert_eq!(mode("generated.yaml"), 0o600, "config generate -o");
    under_umask_022(&["config", "dump", "-o", "dumped.yaml"]);
    assert_eq!(mode("dumped.yaml"), 0o600, "config dump -o");
    let dumped = std::fs::read_to_string(cli.dir.path().join("dumped.yaml")).expect("read");
    assert!(dumped.contains("encryption"), "the dump holds the secrets");
    // An export over an existing, world-readable file narrows it too.
    let export = cli.dir.path().join("users.csv");
    std::fs::write(&export, "old").expect("write");
    std::fs::set_permissions(&export, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    under_umask_022(&["manage", "export-users", "-o", "users.csv"]);
    assert_eq!(mode("users.csv"), 0o600, "manage export-users -o");
    let exported = std::fs::read_to_string(&export).expect("read");
    assert!(exported.contains("alice"), "{exported}");
}

on_both_backends!(
    manage_verbs_work_and_fail_clearly,
    config_sync_copies_static_clients,
    cli_files_with_secrets_are_owner_only,
);

#[test]
fn config_generate_then_check_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let generated = binary()
        .args(["config", "generate"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(generated.status.success());
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, &generated.stdout).unwrap();
    let check = binary()
        .arg("-c")
        .arg(&path)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stderr).contains("looks good"));
    // dump of the generated file is the generated file.
    let dump = binary()
        .arg("-c")
        .arg(&path)
        .args(["config", "dump"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&dump.stdout),
        String::from_utf8_lossy(&generated.stdout)
    );
    // ./config.yaml is found without -c, and GATEHOUSE_CONFIG is honoured.
    let check = binary()
        .args(["config", "check"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(check.status.success());
    let elsewhere = tempfile::tempdir().unwrap();
    let check = binary()
        .args(["config", "check"])
        .env("GATEHOUSE_CONFIG", &path)
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(check.status.success());
    let check = binary()
        .args(["config", "check"])
        .env("MAS_CONFIG", &path)
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(check.status.success());
    // No configuration anywhere: a clear error.
    let check = binary()
        .args(["config", "check", "--data-dir", "nowhere"])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("no configuration found"));
}

#[test]
fn config_check_names_the_broken_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("config.yaml");
    let generated = binary()
        .args(["config", "generate", "-o"])
        .arg(&base)
        .output()
        .unwrap();
    assert!(generated.status.success());
    let cases = [
        // Lists from several files are concatenated (as MAS does): the generated config has one
        // scheme and two keys, so the overlay's entries come after them.
        (
            "passwords:\n  schemes:\n    - version: 2\n      algorithm: md5\n",
            "passwords.schemes[1].algorithm",
        ),
        (
            "passwords:\n  minimum_complexity: 9\n",
            "passwords.minimum_complexity",
        ),
        ("secrets:\n  encryption: tooshort\n", "secrets.encryption"),
        ("http:\n  public_base: not a url\n", "http.public_base"),
        ("database:\n  uri: mysql://localhost/x\n", "database.uri"),
        (
            "matrix:\n  secret_file: /nonexistent/secret\n  secret: null\n",
            "matrix.secret_file",
        ),
        (
            "secrets:\n  keys:\n    - key: \"-----BEGIN PRIVATE KEY-----\\nnot a key\\n-----END PRIVATE KEY-----\\n\"\n",
            "secrets.keys[2]",
        ),
        (
            "clients:\n  - client_id: not-a-ulid\n    client_auth_method: none\n",
            "clients[0].client_id",
        ),
        (
            "templates:\n  path: /nonexistent/templates\n",
            "templates.path",
        ),
    ];
    for (overlay, key) in cases {
        let broken = dir.path().join("broken.yaml");
        std::fs::write(&broken, overlay).unwrap();
        let check = binary()
            .arg("-c")
            .arg(&base)
            .arg("-c")
            .arg(&broken)
            .args(["config", "check"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert!(!check.status.success(), "{key}: should fail");
        assert!(
            stderr.contains(key),
            "error for {key} does not name it: {stderr}"
        );
    }
    // An unknown key is a warning, not an error.
    let extra = dir.path().join("extra.yaml");
    std::fs::write(&extra, "http:\n  listners: []\n").unwrap();
    let check = binary()
        .arg("-c")
        .arg(&base)
        .arg("-c")
        .arg(&extra)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("http.listners"));
}

/// Every page template `templates check` renders.
const RENDERED_PAGES: [&str; 7] = [
    "index.html",
    "login.html",
    "compat_sso.html",
    "error.html",
    "consent.html",
    "link.html",
    "device_consent.html",
];

#[test]
fn templates_check_renders_every_page() {
    // No configuration anywhere: the embedded templates.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let check = binary()
        .args([
            "templates",
            "check",
            "--stabilise",
            "--data-dir",
            "nowhere",
            "--out-dir",
        ])
        .arg(&out)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    for page in RENDERED_PAGES {
        assert!(
            stdout.contains(&format!("{page}: ok\n")),
            "{page}: {stdout}"
        );
        let rendered = std::fs::read_to_string(out.join(page)).unwrap();
        assert!(
            rendered.starts_with("<!DOCTYPE html>"),
            "{page}: {rendered}"
        );
    }
    assert!(stdout.contains("base.html: compiled"), "{stdout}");
    assert!(
        !out.join("base.html").exists(),
        "a layout is not rendered alone"
    );
    // --stabilise: the same bytes every run.
    let again = dir.path().join("again");
    let check = binary()
        .args([
            "templates",
            "check",
            "--stabilise",
            "--data-dir",
            "nowhere",
            "--out-dir",
        ])
        .arg(&again)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(check.status.success());
    for page in RENDERED_PAGES {
        assert_eq!(
            std::fs::read(out.join(page)).unwrap(),
            std::fs::read(again.join(page)).unwrap(),
            "{page}"
        );
    }
}

#[test]
fn templates_check_uses_templates_path_and_names_what_fails() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("config.yaml");
    let generated = binary()
        .args(["config", "generate", "-o"])
        .arg(&base)
        .output()
        .unwrap();
    assert!(generated.status.success());
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    let overlay = dir.path().join("templates.yaml");
    std::fs::write(
        &overlay,
        format!(
            "templates:\n  path: {:?}\n",
            templates.display().to_string()
        ),
    )
    .unwrap();
    let check = |out: Option<&std::path::Path>| {
        let mut command = binary();
        command
            .arg("-c")
            .arg(&base)
            .arg("-c")
            .arg(&overlay)
            .args(["templates", "check"]);
        if let Some(out) = out {
            command.arg("--out-dir").arg(out);
        }
        command.output().unwrap()
    };

    // A replacement that works is rendered in place of the embedded page.
    std::fs::write(
        templates.join("login.html"),
        "{% extends \"base.html\" %}{% block content %}Custom sign-in {{ csrf }}{% endblock %}",
    )
    .unwrap();
    let out = dir.path().join("out");
    let passed = check(Some(&out));
    assert!(
        passed.status.success(),
        "{}",
        String::from_utf8_lossy(&passed.stderr)
    );
    assert!(String::from_utf8_lossy(&passed.stdout).contains("login.html: ok (from "));
    let login = std::fs::read_to_string(out.join("login.html")).unwrap();
    assert!(login.contains("Custom sign-in"), "{login}");

    // An undefined variable fails, naming the template and the line.
    std::fs::write(
        templates.join("login.html"),
        "{% extends \"base.html\" %}\n{% block content %}\n{{ no_such_value }}\n{% endblock %}\n",
    )
    .unwrap();
    let failed = check(None);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(
        stderr.contains("error: template login.html: ") && stderr.contains("login.html:3"),
        "{stderr}"
    );
    // The other pages are still checked and reported.
    assert!(String::from_utf8_lossy(&failed.stdout).contains("error.html: ok"));

    // A missing directory is an error about the key.
    std::fs::remove_file(templates.join("login.html")).unwrap();
    std::fs::remove_dir(&templates).unwrap();
    let missing = check(None);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(stderr.contains("error: templates.path: "), "{stderr}");
}

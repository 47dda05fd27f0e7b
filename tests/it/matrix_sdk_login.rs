//! Element X's engine logs in: the matrix-sdk test client (`tests/clients/matrix-sdk-login`,
//! built once by `scripts/build-test-clients`, named by `GATEHOUSE_MATRIX_SDK_LOGIN`) against
//! Gatehouse and a real Synapse delegating to it, on SQLite and PostgreSQL. Three runs: plain,
//! with `prompt=create`, and with an MSC4198 `login_hint`.
//!
//! Gatehouse serves clients on a TLS listener (matrix-sdk refuses a revocation endpoint that is
//! not https) and Synapse on a plain one; the public base, and so every advertised endpoint, is
//! the TLS one.

use std::{path::PathBuf, process::Stdio, time::Duration};

use gatehouse::config::{BindConfig, HomeserverKind, TlsConfig};

use crate::{
    common::TestDb,
    harness::TestServer,
    on_both_backends,
    synapse::{Proxy, SERVER_NAME, SHARED_SECRET, Synapse, free_port, synapse_python},
    tls::self_signed,
};

const PASSWORD: &str = "element x correct horse battery staple";

/// A run of the client may take this long (it builds no code; Synapse answers in milliseconds).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// The built test client, or `None` when skipped outside CI; under CI=true a missing client fails.
fn matrix_sdk_login() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("GATEHOUSE_MATRIX_SDK_LOGIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "GATEHOUSE_MATRIX_SDK_LOGIN={} is not a file",
            path.display()
        );
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "GATEHOUSE_MATRIX_SDK_LOGIN is not set under CI: scripts/test builds the matrix-sdk \
             test client with scripts/build-test-clients and exports it"
        );
    }
    eprintln!(
        "skipping the matrix-sdk login test: GATEHOUSE_MATRIX_SDK_LOGIN is not set (run \
         scripts/build-test-clients, or the suite through scripts/test)"
    );
    None
}

struct Setup {
    gatehouse: TestServer,
    proxy: Proxy,
    ca_cert: PathBuf,
    _synapse: Synapse,
    _dir: tempfile::TempDir,
}

async fn setup(db: &TestDb, python: PathBuf) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let tls = self_signed();
    let ca_cert = dir.path().join("gatehouse-ca.pem");
    std::fs::write(&ca_cert, &tls.certificate).unwrap();
    let (proxy_listener, proxy_url) = Proxy::bind().await;
    let plain = format!("127.0.0.1:{}", free_port());
    let gatehouse = TestServer::start_with(db, |config| {
        config.matrix.kind = HomeserverKind::Synapse;
        config.matrix.homeserver = SERVER_NAME.into();
        config.matrix.secret = Some(SHARED_SECRET.into());
        config.matrix.endpoint = format!("{proxy_url}/").parse().unwrap();
        // The first listener (the public base) speaks TLS; Synapse uses a plain second one.
        let mut for_synapse = config.http.listeners[0].clone();
        for_synapse.name = "synapse".into();
        for_synapse.binds = vec![BindConfig::Address {
            address: plain.clone(),
        }];
        config.http.listeners[0].tls = Some(TlsConfig {
            certificate: Some(tls.certificate.clone()),
            key: Some(tls.key.serialize_pem()),
            ..TlsConfig::default()
        });
        config.http.listeners.push(for_synapse);
    })
    .await;
    assert!(gatehouse.url.starts_with("https://"), "{}", gatehouse.url);
    let plain_url = format!("http://{plain}");
    let synapse = Synapse::start(python, dir.path(), db.backend, &format!("{plain_url}/")).await;
    let proxy = Proxy::start(proxy_listener, proxy_url, plain_url, synapse.url.clone());
    Setup {
        gatehouse,
        proxy,
        ca_cert,
        _synapse: synapse,
        _dir: dir,
    }
}

impl Setup {
    /// Run the client with `extra` arguments while the job queue is worked (as Gatehouse's worker
    /// would), and return its stdout; fails the test unless it exits 0.
    async fn login(&self, client: &PathBuf, extra: &[&str]) -> String {
        let child = tokio::process::Command::new(client)
            .args(["--homeserver", &self.proxy.url, "--username", "alice"])
            .arg("--ca-cert")
            .arg(&self.ca_cert)
            .args(extra)
            .env("MATRIX_SDK_LOGIN_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the matrix-sdk test client");
        let output = child.wait_with_output();
        tokio::pin!(output);
        let deadline = tokio::time::sleep(RUN_TIMEOUT);
        tokio::pin!(deadline);
        let output = loop {
            tokio::select! {
                output = &mut output => break output.expect("the matrix-sdk test client"),
                _ = &mut deadline => panic!("matrix-sdk-login {extra:?} ran over {RUN_TIMEOUT:?}"),
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    self.gatehouse.run_jobs().await;
                }
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "matrix-sdk-login {extra:?} failed ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

async fn element_x_engine_logs_in(db: TestDb) {
    let Some(client) = matrix_sdk_login() else {
        return;
    };
    let Some(python) = synapse_python() else {
        return;
    };
    let env = setup(&db, python).await;
    env.gatehouse.register_user("alice", PASSWORD).await;
    assert!(env.gatehouse.run_jobs().await >= 1, "alice is provisioned");

    let hint = format!("mxid:@alice:{SERVER_NAME}");
    for (run, extra) in [
        &[][..],
        &["--prompt-create"][..],
        &["--login-hint", hint.as_str()][..],
    ]
    .into_iter()
    .enumerate()
    {
        let stdout = env.login(&client, extra).await;
        // Each run is a new browser, so it signs in; consent is asked at least the first time.
        let pages = if run == 0 {
            "ok sign-in and consent: sign-in page, consent page"
        } else {
            "ok sign-in and consent: sign-in page"
        };
        for line in [
            format!("ok discovery: issuer {}/", env.gatehouse.url),
            pages.to_owned(),
            format!("ok finish_login: @alice:{SERVER_NAME} on device"),
            "ok sync:".to_owned(),
            "ok refresh_access_token:".to_owned(),
            "ok logout:".to_owned(),
            "ok homeserver rejects the old tokens:".to_owned(),
            "ok the refresh token ended with the session:".to_owned(),
        ] {
            assert!(
                stdout.lines().any(|l| l.starts_with(&line)),
                "matrix-sdk-login {extra:?}: no line {line:?} in\n{stdout}"
            );
        }
        eprintln!("matrix-sdk-login {extra:?}:\n{stdout}");
    }

    env.gatehouse.stop().await;
}

on_both_backends!(element_x_engine_logs_in);

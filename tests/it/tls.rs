//! HTTPS on listeners with `tls`, on both backends: the in-process server over TCP (HTTP/1.1
//! and h2) and a UNIX socket, and the real binary with an encrypted key, whose bad keys
//! `config check` and `server` refuse by name.

use std::{process::Stdio, time::Duration};

use gatehouse::config::{BindConfig, TlsConfig};
use pkcs8::{PrivateKeyInfo, der::pem::LineEnding};
use reqwest::{Certificate, Version};
use serde_json::{Value, json};

use crate::{
    cli::{GatehouseCli, binary},
    common::TestDb,
    harness::TestServer,
    on_both_backends,
    server::{Running, free_port, terminate, wait_ready},
};

const PASSWORD: &str = "correct horse battery staple";

/// A self-signed certificate for `localhost` and `127.0.0.1`, and its P-256 key.
pub struct SelfSigned {
    pub certificate: String,
    pub key: rcgen::KeyPair,
}

pub fn self_signed() -> SelfSigned {
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .pem();
    SelfSigned { certificate, key }
}

/// The key as encrypted PKCS#8 PEM (PBKDF2 parameters keep the test fast).
fn encrypted_key(key: &rcgen::KeyPair, password: &str) -> String {
    let der = key.serialize_der();
    let info = PrivateKeyInfo::try_from(der.as_slice()).unwrap();
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"tls-salt", &[3u8; 16])
            .unwrap();
    info.encrypt_with_params(params, password.as_bytes())
        .unwrap()
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .unwrap()
        .to_string()
}

/// A client that trusts only `certificate`.
fn client(certificate: &str) -> reqwest::ClientBuilder {
    gatehouse::crypto::install_tls_provider();
    reqwest::Client::builder()
        .tls_certs_only([Certificate::from_pem(certificate.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(10))
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Version, String) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let version = response.version();
    (status, version, response.text().await.unwrap())
}

async fn https_listener_serves_http1_h2_and_unix(db: TestDb) {
    let tls = self_signed();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("gatehouse.sock");
    let server = TestServer::start_with(&db, |config| {
        let listener = &mut config.http.listeners[0];
        listener.tls = Some(TlsConfig {
            certificate: Some(tls.certificate.clone()),
            key: Some(tls.key.serialize_pem()),
            ..TlsConfig::default()
        });
        listener.binds.push(BindConfig::Unix {
            socket: socket.clone(),
            mode: None,
        });
    })
    .await;
    let port = server
        .url
        .strip_prefix("https://127.0.0.1:")
        .unwrap_or_else(|| panic!("the listener's URL is https: {}", server.url))
        .to_owned();

    // HTTP/1.1, then h2 chosen by ALPN.
    for (builder, version) in [
        (client(&tls.certificate).http1_only(), Version::HTTP_11),
        (client(&tls.certificate), Version::HTTP_2),
    ] {
        let http = builder.build().unwrap();
        let (status, got, body) = get(&http, &server.at("/health")).await;
        assert_eq!((status, got, body.as_str()), (200, version, "ok"));
        let (status, got, body) = get(&http, &server.at("/.well-known/openid-configuration")).await;
        assert_eq!((status, got), (200, version));
        let discovery: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(discovery["issuer"], format!("https://127.0.0.1:{port}/"));
        assert_eq!(
            discovery["introspection_endpoint"],
            format!("https://127.0.0.1:{port}/oauth2/introspect")
        );
    }

    // TLS 1.2 is still offered.
    let tls12 = client(&tls.certificate)
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    let (status, _, _) = get(&tls12, &server.at("/health")).await;
    assert_eq!(status, 200);

    // The certificate's DNS name works as well as its address.
    let http = client(&tls.certificate).build().unwrap();
    let (status, _, _) = get(&http, &format!("https://localhost:{port}/health")).await;
    assert_eq!(status, 200);

    // Every bind of the listener speaks TLS, its UNIX socket too.
    let over_unix = client(&tls.certificate)
        .unix_socket(socket.clone())
        .build()
        .unwrap();
    let (status, _, body) = get(&over_unix, "https://localhost/health").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let plain_unix = reqwest::Client::builder()
        .unix_socket(socket.clone())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    assert!(
        plain_unix
            .get("http://localhost/health")
            .send()
            .await
            .is_err()
    );

    // Plain HTTP to the TLS port fails, and so does a client that does not trust the certificate.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let refused = plain
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await;
    assert!(refused.is_err(), "plain HTTP answered: {refused:?}");
    let other = self_signed();
    let untrusting = client(&other.certificate).build().unwrap();
    assert!(untrusting.get(server.at("/health")).send().await.is_err());

    // The server still sees the TCP peer through TLS: a login records it on the session.
    let user = server.register_user("alice", PASSWORD).await;
    let login = http
        .post(server.at("/_matrix/client/v3/login"))
        .json(&json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "alice"},
            "password": PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let mut reader = server.store.reader().await.unwrap();
    let sessions = reader.compat().active_sessions(user.id).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].last_active_ip.as_deref(), Some("127.0.0.1"));
    drop(reader);
    server.stop().await;
}

/// `gatehouse -c … args…` with the CLI's files plus `listeners`.
fn gatehouse(cli: &GatehouseCli, listeners: &std::path::Path) -> std::process::Command {
    let mut command = binary();
    for file in cli.files.iter().chain([&listeners.to_path_buf()]) {
        command.arg("-c").arg(file);
    }
    command.current_dir(cli.dir.path());
    command
}

/// Run `config check` and `server`, which must both fail naming `key`; returns the check's stderr.
fn refused(cli: &GatehouseCli, listeners: &std::path::Path, key: &str) -> String {
    let check = gatehouse(cli, listeners)
        .args(["config", "check"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr).into_owned();
    assert!(!check.status.success(), "config check passed: {stderr}");
    assert!(
        stderr.contains(key),
        "config check does not name {key}: {stderr}"
    );
    // Spawned, not `output()`: a server that wrongly starts must fail the test, not hang it.
    let mut server = Running(
        gatehouse(cli, listeners)
            .args(["server", "--no-worker"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server started despite {key}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut server_stderr = String::new();
    std::io::Read::read_to_string(&mut server.0.stderr.take().unwrap(), &mut server_stderr)
        .unwrap();
    assert!(!status.success(), "server exited 0: {server_stderr}");
    assert!(
        server_stderr.contains(key),
        "server does not name {key}: {server_stderr}"
    );
    stderr
}

async fn server_binary_serves_https_with_an_encrypted_key(db: TestDb) {
    let cli = GatehouseCli::new(&db);
    let tls = self_signed();
    let certificate_file = cli.dir.path().join("tls.crt");
    let key_file = cli.dir.path().join("tls.key");
    let password_file = cli.dir.path().join("tls.password");
    std::fs::write(&certificate_file, &tls.certificate).unwrap();
    std::fs::write(&key_file, encrypted_key(&tls.key, "s3cret")).unwrap();
    std::fs::write(&password_file, "s3cret\n").unwrap();
    let port = free_port();
    let listeners = cli.dir.path().join("listeners.yaml");
    std::fs::write(
        &listeners,
        format!(
            "http:\n  public_base: https://127.0.0.1:{port}/\n  listeners:\n    - name: web\n      \
             resources: [{{name: health}}, {{name: discovery}}]\n      \
             binds: [{{address: \"127.0.0.1:{port}\"}}]\n      \
             tls:\n        certificate_file: {certificate:?}\n        key_file: {key:?}\n        \
             password_file: {password:?}\n",
            certificate = certificate_file.display().to_string(),
            key = key_file.display().to_string(),
            password = password_file.display().to_string(),
        ),
    )
    .unwrap();

    let check = gatehouse(&cli, &listeners)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let mut child = Running(
        gatehouse(&cli, &listeners)
            .arg("server")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = wait_ready(&mut child);
    assert!(
        ready.contains(&format!("https://127.0.0.1:{port}/")),
        "{ready}"
    );
    let http = client(&tls.certificate).build().unwrap();
    let (status, version, body) = get(&http, &format!("https://127.0.0.1:{port}/health")).await;
    assert_eq!(
        (status, version, body.as_str()),
        (200, Version::HTTP_2, "ok")
    );
    let (status, _, body) = get(
        &http,
        &format!("https://127.0.0.1:{port}/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(status, 200);
    let discovery: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(discovery["issuer"], format!("https://127.0.0.1:{port}/"));
    assert!(terminate(&mut child).success(), "graceful shutdown exits 0");

    // A wrong password: both refuse, naming the key.
    std::fs::write(&password_file, "wrong\n").unwrap();
    let stderr = refused(&cli, &listeners, "http.listeners[0].tls.key_file");
    assert!(stderr.contains("could not decrypt"), "{stderr}");

    // A key that is not the certificate's.
    std::fs::write(&key_file, self_signed().key.serialize_pem()).unwrap();
    let stderr = refused(&cli, &listeners, "http.listeners[0].tls.key_file");
    assert!(
        stderr.contains("does not match the certificate"),
        "{stderr}"
    );

    // A missing certificate file.
    std::fs::remove_file(&certificate_file).unwrap();
    refused(&cli, &listeners, "http.listeners[0].tls.certificate_file");
}

on_both_backends!(
    https_listener_serves_http1_h2_and_unix,
    server_binary_serves_https_with_an_encrypted_key
);

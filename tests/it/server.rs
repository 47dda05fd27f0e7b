//! `gatehouse server`: the embedded zero-config default and a configured server with
//! `/health`, graceful shutdown on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use crate::{
    cli::{GatehouseCli, binary},
    common::TestDb,
    on_both_backends,
};

/// A server process that is killed if the test fails before stopping it.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Wait until the server prints its ready line on stdout; returns that line.
pub(crate) fn wait_ready(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
            && line.contains("is ready at")
        {
            return line;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
    }
    panic!("server did not become ready");
}

pub(crate) fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn configured_server_serves_health_and_stops_on_sigterm(db: TestDb) {
    let cli = GatehouseCli::new(&db);
    let port = free_port();
    let listeners = cli.dir.path().join("listeners.yaml");
    std::fs::write(
        &listeners,
        format!(
            "http:\n  public_base: http://127.0.0.1:{port}/\n  listeners:\n    - name: web\n      resources: [{{name: health}}]\n      binds: [{{address: \"127.0.0.1:{port}\"}}]\n      prefix: /auth\n"
        ),
    )
    .unwrap();
    let mut command = binary();
    for file in cli.files.iter().chain([&listeners]) {
        command.arg("-c").arg(file);
    }
    let mut child = Running(
        command
            .arg("server")
            .current_dir(cli.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = wait_ready(&mut child);
    assert!(
        ready.contains(&format!("http://127.0.0.1:{port}/")),
        "{ready}"
    );
    gatehouse::crypto::install_tls_provider();
    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://127.0.0.1:{port}/auth/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    let missing = client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(terminate(&mut child).success(), "graceful shutdown exits 0");

    // A busy port is a clear error naming the listener, not a hang.
    let blocker = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let mut command = binary();
    for file in cli.files.iter().chain([&listeners]) {
        command.arg("-c").arg(file);
    }
    let output = command
        .arg("server")
        .current_dir(cli.dir.path())
        .output()
        .unwrap();
    drop(blocker);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("http.listeners[0] (web): cannot bind 127.0.0.1"),
        "{stderr}"
    );
}

on_both_backends!(configured_server_serves_health_and_stops_on_sigterm);

/// The zero-config path a newcomer takes: `gatehouse server` in an empty directory. Uses MAS's
/// default ports (8080 web, 8081 internal with /health), so it is the only test that does.
#[tokio::test]
async fn embedded_default_needs_no_config_and_reuses_its_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        Running(
            binary()
                .arg("server")
                .current_dir(dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let mut child = start();
    let ready = wait_ready(&mut child);
    assert!(ready.contains("http://localhost:8080/"), "{ready}");
    let data = dir.path().join("gatehouse-data");
    assert!(data.join("config.yaml").exists());
    assert!(data.join("gatehouse.db").exists());
    let config_before = std::fs::read_to_string(data.join("config.yaml")).unwrap();
    gatehouse::crypto::install_tls_provider();
    let health = reqwest::get("http://localhost:8081/health").await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(terminate(&mut child).success());

    // The second start reuses the same configuration (same secrets) and database.
    let mut child = start();
    wait_ready(&mut child);
    assert_eq!(
        std::fs::read_to_string(data.join("config.yaml")).unwrap(),
        config_before
    );
    // manage verbs find the embedded default too.
    let output = binary()
        .args(["manage", "register-user", "newcomer", "-y"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(terminate(&mut child).success());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("config.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the generated config holds secrets: owner-only"
    );
}

/// `gatehouse worker` carries out queued jobs on its own and stops cleanly on SIGTERM.
async fn worker_runs_queued_jobs(db: TestDb) {
    let cli = GatehouseCli::new(&db);
    cli.ok(&["manage", "register-user", "queued", "-y"]);
    let store = db.store().await;
    let pending = |store: gatehouse::store::Store| async move {
        let mut reader = store.reader().await.unwrap();
        reader
            .jobs()
            .list(gatehouse::domain::jobs::JobStatus::Available)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(
        pending(store.clone()).await,
        1,
        "register-user queued the provisioning"
    );
    let mut command = binary();
    for file in &cli.files {
        command.arg("-c").arg(file);
    }
    let mut child = Running(
        command
            .arg("worker")
            .current_dir(cli.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    // provision-user completes, then queues and completes sync-devices.
    loop {
        let mut reader = store.reader().await.unwrap();
        let done = reader
            .jobs()
            .list(gatehouse::domain::jobs::JobStatus::Completed)
            .await
            .unwrap()
            .len();
        if done >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the worker did not run the jobs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(terminate(&mut child).success());
}

on_both_backends!(worker_runs_queued_jobs);

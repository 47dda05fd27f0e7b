//! A real Synapse (installed from PyPI by `scripts/synapse-venv`) configured with
//! `matrix_authentication_service` pointing at a Gatehouse, plus a reverse proxy that sends the
//! compat paths to Gatehouse and everything else to Synapse, as the setup guides describe.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use gatehouse::store::Backend;
use serde_json::json;
use sqlx::{AnyConnection, Connection};

pub const SHARED_SECRET: &str = "e2e-shared-secret-0123456789abcdef";
pub const SERVER_NAME: &str = "example.test";

/// The venv python with Synapse, or `None` when explicitly skipped outside CI.
pub fn synapse_python() -> Option<PathBuf> {
    if let Ok(python) = std::env::var("GATEHOUSE_SYNAPSE_PYTHON") {
        return Some(PathBuf::from(python));
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let skip = std::env::var("GATEHOUSE_TEST_SKIP_SYNAPSE").is_ok_and(|v| v == "1");
    if skip && !in_ci {
        eprintln!("skipping the real-Synapse test: GATEHOUSE_TEST_SKIP_SYNAPSE=1");
        return None;
    }
    panic!(
        "GATEHOUSE_SYNAPSE_PYTHON is not set. Run the suite with scripts/test (it installs Synapse with \
         scripts/synapse-venv), or set it to the python of a venv with matrix-synapse."
    );
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Synapse {
    pub url: String,
    pub port: u16,
    python: PathBuf,
    config: PathBuf,
    workdir: PathBuf,
    child: Option<Child>,
}

impl Synapse {
    /// Write the config (a Synapse database of the same backend as `backend`) and start.
    pub async fn start(
        python: PathBuf,
        workdir: &Path,
        backend: Backend,
        gatehouse_url: &str,
    ) -> Synapse {
        let database = match backend {
            Backend::Sqlite => {
                json!({"name": "sqlite3", "args": {"database": workdir.join("homeserver.db")}})
            }
            Backend::Postgres => {
                let admin_url =
                    std::env::var("GATEHOUSE_TEST_POSTGRES_URL").expect("PostgreSQL for Synapse");
                let name = format!("synapse_{}", ulid::Ulid::new().to_string().to_lowercase());
                sqlx::any::install_default_drivers();
                let mut admin = AnyConnection::connect(&admin_url).await.expect("connect");
                // Synapse requires the C collation.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
                )))
                .execute(&mut admin)
                .await
                .expect("create Synapse database");
                let url = url::Url::parse(&admin_url).unwrap();
                json!({"name": "psycopg2", "args": {
                    "user": url.username(), "host": url.host_str(), "port": url.port(),
                    "database": name, "cp_min": 1, "cp_max": 5
                }})
            }
        };
        Self::start_on(python, workdir, database, gatehouse_url).await
    }

    /// Start on an existing database (`database` is Synapse's `database` config section).
    pub async fn start_on(
        python: PathBuf,
        workdir: &Path,
        database: serde_json::Value,
        gatehouse_url: &str,
    ) -> Synapse {
        let port = free_port();
        let limits = json!({"per_second": 10000, "burst_count": 100000});
        let config = json!({
            "server_name": SERVER_NAME,
            "public_baseurl": format!("http://127.0.0.1:{port}/"),
            "pid_file": workdir.join("homeserver.pid"),
            "report_stats": false,
            "listeners": [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": false,
                           "x_forwarded": true, "resources": [{"names": ["client"], "compress": false}]}],
            "database": database,
            "media_store_path": workdir.join("media"),
            "signing_key_path": workdir.join("signing.key"),
            "macaroon_secret_key": "e2e-macaroon-secret-key-0123456789",
            "form_secret": "e2e-form-secret-0123456789",
            "trusted_key_servers": [],
            "suppress_key_server_warning": true,
            "federation_domain_whitelist": [],
            "enable_metrics": false,
            "enable_registration": false,
            "password_config": {"enabled": false},
            "rc_login": {"address": limits, "account": limits, "failed_attempts": limits},
            "rc_message": limits,
            "rc_registration": limits,
            "matrix_authentication_service": {"enabled": true, "endpoint": gatehouse_url, "secret": SHARED_SECRET},
        });
        let path = workdir.join("homeserver.yaml");
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let keys = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&path)
            .arg("--generate-keys")
            .current_dir(workdir)
            .output()
            .expect("run synapse --generate-keys");
        assert!(
            keys.status.success(),
            "synapse --generate-keys: {}",
            String::from_utf8_lossy(&keys.stderr)
        );
        let mut synapse = Synapse {
            url: format!("http://127.0.0.1:{port}"),
            port,
            python,
            config: path,
            workdir: workdir.to_owned(),
            child: None,
        };
        synapse.restart().await;
        synapse
    }

    /// (Re)start the process and wait until it answers.
    pub async fn restart(&mut self) {
        self.stop();
        let log = std::fs::File::create(self.workdir.join("synapse.log")).unwrap();
        let child = Command::new(&self.python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&self.config)
            .current_dir(&self.workdir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start synapse");
        self.child = Some(child);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(response) = client.get(format!("{}/health", self.url)).send().await
                && response.status().is_success()
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("synapse exited ({status}); log:\n{}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "synapse did not start; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.workdir.join("synapse.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The reverse proxy of the setup guides: `/_matrix/client/*/login`, `/logout` and `/refresh`
/// go to Gatehouse, everything else to Synapse.
pub struct Proxy {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Proxy {
    pub async fn bind() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        (listener, url)
    }

    pub fn start(
        listener: tokio::net::TcpListener,
        url: String,
        gatehouse: String,
        synapse: String,
    ) -> Proxy {
        use poem::{EndpointExt, Request, Response, Server, endpoint::make, listener::TcpAcceptor};
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let endpoint = make(move |req: Request| {
            let client = client.clone();
            let gatehouse = gatehouse.clone();
            let synapse = synapse.clone();
            async move {
                let path = req.uri().path().to_owned();
                let compat = path.starts_with("/_matrix/client/")
                    && ["/login", "/logout", "/refresh"].iter().any(|p| {
                        path.split('/')
                            .nth(4)
                            .is_some_and(|segment| format!("/{segment}") == *p)
                    });
                let upstream = if compat { &gatehouse } else { &synapse };
                let target = format!(
                    "{upstream}{}",
                    req.uri()
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/")
                );
                let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
                let mut forward = client.request(method, target);
                for (name, value) in req.headers() {
                    if name != "host" && name != "content-length" {
                        forward = forward.header(name.as_str(), value.as_bytes());
                    }
                }
                let body = req.into_body().into_bytes().await.unwrap_or_default();
                let response = match forward.body(body).send().await {
                    Ok(response) => response,
                    Err(_) => {
                        return Response::builder()
                            .status(poem::http::StatusCode::BAD_GATEWAY)
                            .finish();
                    }
                };
                let mut builder = Response::builder()
                    .status(poem::http::StatusCode::from_u16(response.status().as_u16()).unwrap());
                for (name, value) in response.headers() {
                    if name != "transfer-encoding"
                        && name != "content-length"
                        && name != "connection"
                    {
                        builder = builder.header(name.as_str(), value.as_bytes());
                    }
                }
                builder.body(response.bytes().await.unwrap_or_default())
            }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    endpoint.map_to_response(),
                    async {
                        let _ = stopped.await;
                    },
                    None,
                )
                .await;
        });
        Proxy {
            url,
            stop: Some(stop),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

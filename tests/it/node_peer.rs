//! Node.js test peers from `tests/clients/openid-client/` (openid-client as the relying party,
//! puppeteer-core driving Chromium), run as child processes speaking one JSON object per line
//! (see `peer.mjs` there). The packages come from `GATEHOUSE_NODE_MODULES`; when it is unset,
//! `scripts/test-clients-npm` installs them (cached outside the repository). Without them the
//! tests are skipped with a message, except under `CI=true`, where that is a failure.

#![allow(dead_code)]

use std::{path::PathBuf, process::Stdio, sync::OnceLock, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skip a test for a missing tool outside CI; under CI it fails.
pub fn missing(what: &str) {
    assert!(!in_ci(), "{what} (required under CI=true)");
    eprintln!("skipping: {what}");
}

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The installed `node_modules`, or `None` (with the reason printed) outside CI.
pub fn node_modules() -> Option<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        if let Ok(dir) = std::env::var("GATEHOUSE_NODE_MODULES") {
            return Ok(PathBuf::from(dir));
        }
        let output = std::process::Command::new(repo_dir().join("scripts/test-clients-npm"))
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("scripts/test-clients-npm did not run: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "scripts/test-clients-npm failed ({})",
                output.status
            ));
        }
        Ok(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim(),
        ))
    });
    match found {
        Ok(dir) if dir.join("openid-client").is_dir() => Some(dir.clone()),
        Ok(dir) => {
            missing(&format!(
                "no openid-client under GATEHOUSE_NODE_MODULES={}",
                dir.display()
            ));
            None
        }
        Err(reason) => {
            missing(reason);
            None
        }
    }
}

/// What a peer said.
#[derive(Debug)]
pub enum Said {
    /// A question for the person (`{"ask": name, ...}`); answer with [`NodePeer::answer`].
    Ask(String, Value),
    /// The scenario's result.
    Done(Value),
}

pub struct NodePeer {
    what: String,
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

/// How long one peer may take to say its next line (the device grant polls every 5 s).
const PATIENCE: Duration = Duration::from_secs(60);

impl NodePeer {
    /// Run `tests/clients/openid-client/<script> <scenario>` with `input` as its input.
    pub fn start(
        modules: &std::path::Path,
        script: &str,
        scenario: &str,
        input: &Value,
    ) -> NodePeer {
        let mut child = Command::new("node")
            .arg(repo_dir().join("tests/clients/openid-client").join(script))
            .arg(scenario)
            .env("GATEHOUSE_NODE_MODULES", modules)
            .env("GATEHOUSE_PEER_INPUT", input.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (Node.js 20 is needed for the real-client tests)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        NodePeer {
            what: format!("{script} {scenario}"),
            child,
            stdin,
            stdout,
        }
    }

    /// The next thing the peer says; panics with its report (and stderr) when it failed.
    pub async fn next(&mut self) -> Said {
        loop {
            let line = tokio::time::timeout(PATIENCE, self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("{}: said nothing for {PATIENCE:?}", self.what))
                .expect("read the peer's stdout");
            let Some(line) = line else {
                let stderr = self.stderr().await;
                panic!("{}: ended without a result; stderr:\n{stderr}", self.what);
            };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                eprintln!("{}: {line}", self.what);
                continue;
            };
            if let Some(question) = message.get("ask").and_then(Value::as_str) {
                return Said::Ask(question.to_owned(), message.clone());
            }
            if let Some(result) = message.get("done") {
                return Said::Done(result.clone());
            }
            if let Some(failure) = message.get("failed") {
                let stderr = self.stderr().await;
                panic!(
                    "{} failed at \"{}\": {}\nstderr:\n{stderr}",
                    self.what,
                    failure["step"].as_str().unwrap_or("?"),
                    serde_json::to_string_pretty(failure).unwrap_or_default()
                );
            }
            eprintln!("{}: {line}", self.what);
        }
    }

    pub async fn answer(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("answer the peer");
        self.stdin.flush().await.expect("flush");
    }

    /// Expect the result next (no more questions) and that the process exits cleanly.
    pub async fn done(mut self) -> Value {
        match self.next().await {
            Said::Done(result) => {
                self.exited().await;
                result
            }
            Said::Ask(question, _) => {
                panic!("{}: asked {question:?} instead of finishing", self.what)
            }
        }
    }

    /// After [`Said::Done`]: the process exits with success.
    pub async fn exited(mut self) {
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{}: did not exit after its result", self.what))
            .expect("wait for the peer");
        assert!(status.success(), "{}: exited with {status}", self.what);
    }

    async fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), stderr.read_to_string(&mut text))
                .await;
        }
        text
    }
}

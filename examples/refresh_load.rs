//! Benchmark load: CLIENTS concurrent clients, each refreshing its own rotating chain of
//! OAuth 2.0 refresh tokens at `POST /oauth2/token` as fast as the server answers, for SECONDS.
//! Each client starts from one line of SESSIONS_FILE (as `seed_oauth_sessions` writes it).
//! Prints one `RESULT` line: grants, grants/s, latency percentiles, errors.
//!
//!     cargo run --release --example refresh_load -- URL SESSIONS_FILE CLIENTS SECONDS

use std::time::{Duration, Instant};

#[path = "support/latencies.rs"]
mod latencies;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, sessions, clients, seconds] = args.as_slice() else {
        anyhow::bail!("usage: refresh_load URL SESSIONS_FILE CLIENTS SECONDS");
    };
    let clients: usize = clients.parse()?;
    let duration = Duration::from_secs(seconds.parse()?);
    let text = std::fs::read_to_string(sessions)?;
    let mut lines = text.lines();
    let client_id = lines
        .next()
        .ok_or_else(|| anyhow::anyhow!("empty sessions file"))?
        .to_owned();
    let refresh_tokens: Vec<String> = lines
        .filter_map(|line| line.split(' ').nth(1).map(str::to_owned))
        .take(clients)
        .collect();
    anyhow::ensure!(
        refresh_tokens.len() == clients,
        "the sessions file has fewer than {clients} sessions"
    );
    gatehouse::crypto::install_tls_provider();
    let http = reqwest::Client::builder().build()?;
    let endpoint = format!("{}/oauth2/token", url.trim_end_matches('/'));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = refresh_tokens
        .into_iter()
        .map(|mut token| {
            let http = http.clone();
            let endpoint = endpoint.clone();
            let client_id = client_id.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let answer = http
                        .post(&endpoint)
                        .form(&[
                            ("grant_type", "refresh_token"),
                            ("refresh_token", token.as_str()),
                            ("client_id", client_id.as_str()),
                        ])
                        .send()
                        .await;
                    let next = match answer {
                        Ok(response) if response.status().is_success() => response
                            .json::<serde_json::Value>()
                            .await
                            .ok()
                            .and_then(|body| body["refresh_token"].as_str().map(str::to_owned)),
                        _ => None,
                    };
                    latencies.push(sent.elapsed());
                    match next {
                        Some(next) => token = next,
                        // The chain is broken: this client stops.
                        None => {
                            errors += 1;
                            break;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let run = latencies::gather(started, tasks).await?;
    println!(
        "RESULT grants={} grants_per_s={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} errors={}",
        run.count, run.per_second, run.p50_ms, run.p99_ms, run.max_ms, run.errors,
    );
    Ok(())
}

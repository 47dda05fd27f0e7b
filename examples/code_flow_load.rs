//! Benchmark load: CLIENTS concurrent browsers, each signed in once (not measured), then running
//! complete authorization-code flows as fast as they are answered for SECONDS: `GET /authorize`
//! (PKCE S256, a new device each time; consent already given, so Gatehouse redirects straight
//! back with a code), then `POST /oauth2/token` with the code. Prints one `RESULT` line.
//!
//!     cargo run --release --example code_flow_load -- URL SESSIONS_FILE PASSWORD CLIENTS SECONDS
//!
//! SESSIONS_FILE is what `seed_oauth_sessions` wrote (its client, and users oauth000001…, which
//! need PASSWORD).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use reqwest::{StatusCode, header};

const REDIRECT_URI: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "bench-code-verifier-bench-code-verifier-0123456789";

/// The cookies a browser keeps, by name.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn keep(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.0
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    fn header(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        pairs.join("; ")
    }
}

fn hidden_input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

async fn sign_in(
    http: &reqwest::Client,
    url: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<Jar> {
    let mut jar = Jar::default();
    let page = http.get(format!("{url}/login")).send().await?;
    jar.keep(&page);
    let html = page.text().await?;
    let csrf = hidden_input(&html, "csrf").ok_or_else(|| anyhow::anyhow!("no csrf on /login"))?;
    let answer = http
        .post(format!("{url}/login"))
        .header(header::COOKIE, jar.header())
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        answer.status() == StatusCode::SEE_OTHER,
        "sign-in: {}",
        answer.status()
    );
    jar.keep(&answer);
    Ok(jar)
}

/// One flow; its code exchanged for tokens.
async fn flow(
    http: &reqwest::Client,
    url: &str,
    client_id: &str,
    challenge: &str,
    jar: &mut Jar,
    device: &str,
) -> anyhow::Result<()> {
    let scope = format!("urn:matrix:client:api:* urn:matrix:client:device:{device}");
    let answer = http
        .get(format!("{url}/authorize"))
        .header(header::COOKIE, jar.header())
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", scope.as_str()),
            ("state", "bench"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await?;
    jar.keep(&answer);
    let location = answer
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow::anyhow!("authorize: {} without a redirect", answer.status()))?;
    let location = url::Url::parse(location)?;
    let code = location
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .ok_or_else(|| anyhow::anyhow!("authorize: redirect without a code: {location}"))?;
    let tokens = http
        .post(format!("{url}/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("client_id", client_id),
        ])
        .send()
        .await?;
    anyhow::ensure!(tokens.status().is_success(), "token: {}", tokens.status());
    Ok(())
}

#[path = "support/latencies.rs"]
mod latencies;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, sessions, password, clients, seconds] = args.as_slice() else {
        anyhow::bail!("usage: code_flow_load URL SESSIONS_FILE PASSWORD CLIENTS SECONDS");
    };
    let url = url.trim_end_matches('/').to_owned();
    let clients: usize = clients.parse()?;
    let duration = Duration::from_secs(seconds.parse()?);
    let client_id = std::fs::read_to_string(sessions)?
        .lines()
        .next()
        .ok_or_else(|| anyhow::anyhow!("empty sessions file"))?
        .to_owned();
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
    };
    gatehouse::crypto::install_tls_provider();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut jars = Vec::new();
    for n in 0..clients {
        jars.push(sign_in(&http, &url, &format!("oauth{:06}", n + 1), password).await?);
    }
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = jars
        .into_iter()
        .enumerate()
        .map(|(n, mut jar)| {
            let (http, url, client_id, challenge) = (
                http.clone(),
                url.clone(),
                client_id.clone(),
                challenge.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                let mut i = 0usize;
                while Instant::now() < deadline {
                    i += 1;
                    let device = format!("FLOW{n:03}X{i:08}");
                    let sent = Instant::now();
                    match flow(&http, &url, &client_id, &challenge, &mut jar, &device).await {
                        Ok(()) => latencies.push(sent.elapsed()),
                        Err(error) => {
                            eprintln!("flow failed: {error}");
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
        "RESULT flows={} flows_per_s={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} errors={}",
        run.count, run.per_second, run.p50_ms, run.p99_ms, run.max_ms, run.errors,
    );
    Ok(())
}

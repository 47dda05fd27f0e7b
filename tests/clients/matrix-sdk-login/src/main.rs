//! Logs in to a homeserver whose authentication is delegated to Gatehouse, the way Element X's
//! engine (matrix-sdk) does, and checks each step: discovery through the homeserver, dynamic
//! registration, the authorization URL, the sign-in and consent pages (submitted over HTTP as a
//! browser without JavaScript would), `finish_login`, a sync, a refresh, whoami, logout, and that
//! the homeserver then rejects the tokens.
//!
//! One line per step on stdout; exit 0 only when every step held. Tokens, codes and the password
//! are never printed.

mod pages;

use std::{process::ExitCode, time::Duration};

use anyhow::{Context, anyhow, bail, ensure};
use matrix_sdk::{
    Client,
    authentication::oauth::{
        ClientRegistrationData, OAuthAuthorizationData,
        registration::{
            ApplicationType, ClientMetadata, Localized, OAuthGrantType, language_tags::LanguageTag,
        },
    },
    config::SyncSettings,
    reqwest::Certificate,
    ruma::{api::client::discovery::get_authorization_server_metadata::v1::Prompt, serde::Raw},
};
use url::Url;

const USAGE: &str = "usage: matrix-sdk-login --homeserver URL --ca-cert PEM-FILE --username NAME \
[--prompt-create] [--login-hint HINT]
The password is read from MATRIX_SDK_LOGIN_PASSWORD.";

/// Element X registers a loopback redirect without a port (RFC 8252 §7.3: any port matches).
const REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// How long one step may take before the run fails instead of hanging.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long after logout the homeserver may still accept the tokens (the device removal is a
/// background job in Gatehouse).
const REJECTION_GRACE: Duration = Duration::from_secs(20);

struct Options {
    homeserver: Url,
    ca_cert: Vec<u8>,
    username: String,
    password: String,
    prompt_create: bool,
    login_hint: Option<String>,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
        let mut homeserver = None;
        let mut ca_cert = None;
        let mut username = None;
        let mut prompt_create = false;
        let mut login_hint = None;
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--homeserver" => homeserver = Some(value()?),
                "--ca-cert" => ca_cert = Some(value()?),
                "--username" => username = Some(value()?),
                "--login-hint" => login_hint = Some(value()?),
                "--prompt-create" => prompt_create = true,
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        let homeserver = homeserver.context(USAGE)?;
        let ca_cert = ca_cert.context(USAGE)?;
        Ok(Options {
            homeserver: Url::parse(&homeserver).context("--homeserver is not a URL")?,
            ca_cert: std::fs::read(&ca_cert).with_context(|| format!("reading {ca_cert}"))?,
            username: username.context(USAGE)?,
            password: std::env::var("MATRIX_SDK_LOGIN_PASSWORD")
                .context("MATRIX_SDK_LOGIN_PASSWORD is not set")?,
            prompt_create,
            login_hint,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("{error:#}");
            return ExitCode::from(2);
        }
    };
    match run(&options).await {
        Ok(()) => {
            println!("all steps passed");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("FAIL {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Run `future` as the step `name`, printing `ok <name>: <detail>` when it succeeds.
async fn step<T>(
    name: &str,
    future: impl Future<Output = anyhow::Result<(T, String)>>,
) -> anyhow::Result<T> {
    let (value, detail) = tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .map_err(|_| anyhow!("{name}: no answer within {STEP_TIMEOUT:?}"))?
        .with_context(|| name.to_owned())?;
    println!("ok {name}: {detail}");
    Ok(value)
}

/// The client metadata Element X registers: a native public client with a loopback redirect,
/// the code, refresh and device grants, and localized names.
fn client_metadata() -> anyhow::Result<Raw<ClientMetadata>> {
    let french = LanguageTag::parse("fr")?;
    let client_uri = Localized::new(Url::parse("https://example.org/")?, []);
    let metadata = ClientMetadata {
        client_name: Some(Localized::new(
            "Gatehouse matrix-sdk test client".to_owned(),
            [(french, "Client de test matrix-sdk".to_owned())],
        )),
        policy_uri: Some(Localized::new(
            Url::parse("https://example.org/privacy")?,
            [],
        )),
        tos_uri: Some(Localized::new(Url::parse("https://example.org/terms")?, [])),
        ..ClientMetadata::new(
            ApplicationType::Native,
            vec![
                OAuthGrantType::AuthorizationCode {
                    redirect_uris: vec![Url::parse(REDIRECT_URI)?],
                },
                OAuthGrantType::DeviceCode,
            ],
            client_uri,
        )
    };
    Ok(Raw::new(&metadata)?)
}

async fn run(options: &Options) -> anyhow::Result<()> {
    let certificate = Certificate::from_pem(&options.ca_cert).context("--ca-cert is not PEM")?;
    let client = Client::builder()
        .homeserver_url(options.homeserver.as_str())
        .add_root_certificates(vec![certificate.clone()])
        .disable_built_in_root_certificates()
        .handle_refresh_tokens()
        .build()
        .await
        .context("building the matrix-sdk client")?;
    let oauth = client.oauth();

    // Discovery: only through the homeserver's auth_metadata, as Element X does.
    let metadata = step("discovery", async {
        let metadata = oauth.server_metadata().await?;
        let detail = format!("issuer {}", metadata.issuer);
        Ok((metadata, detail))
    })
    .await?;

    // Registration and the authorization URL (build() registers the client first).
    let (OAuthAuthorizationData { url, .. }, client_id) = step("registration", async {
        let redirect_uri = Url::parse(REDIRECT_URI)?;
        let registration = ClientRegistrationData::new(client_metadata()?);
        let mut builder = oauth.login(redirect_uri, None, Some(registration), None);
        if options.prompt_create {
            builder = builder.prompt(vec![Prompt::Create]);
        }
        if let Some(hint) = &options.login_hint {
            builder = builder.login_hint(hint.clone());
        }
        let data = builder.build().await?;
        let client_id = oauth
            .client_id()
            .context("no client id after registration")?
            .as_str()
            .to_owned();
        let detail = format!("client {client_id}");
        Ok(((data, client_id), detail))
    })
    .await?;
    let sent: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let sent_param = |name: &str| {
        sent.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    ensure!(
        url.as_str()
            .starts_with(metadata.authorization_endpoint.as_str()),
        "the authorization URL is not on the advertised authorization endpoint"
    );
    ensure!(
        sent_param("prompt") == options.prompt_create.then_some("create"),
        "prompt sent: {:?}",
        sent_param("prompt")
    );
    ensure!(
        sent_param("login_hint") == options.login_hint.as_deref(),
        "login_hint sent: {:?}",
        sent_param("login_hint")
    );
    println!(
        "ok authorization URL: scope {:?}",
        sent_param("scope").unwrap_or_default()
    );

    // The pages: sign in, consent, then the redirect back to the client.
    let browser = pages::Browser::new(certificate)?;
    let callback = step("sign-in and consent", async {
        let walk = browser
            .authorize(url, options, &Url::parse(REDIRECT_URI)?)
            .await?;
        Ok((walk.callback, walk.visited.join(", ")))
    })
    .await?;
    let returned: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    let returned_param = |name: &str| {
        returned
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    ensure!(
        returned_param("code").is_some(),
        "the redirect carries no code: error {:?} ({:?})",
        returned_param("error"),
        returned_param("error_description")
    );
    // RFC 9207: the authorization response names its issuer.
    ensure!(
        returned_param("iss") == Some(metadata.issuer.as_str()),
        "iss in the redirect: {:?}",
        returned_param("iss")
    );
    println!("ok redirect: code, state and iss returned to {REDIRECT_URI}");

    let (user_id, device_id) = step("finish_login", async {
        oauth.finish_login(callback.into()).await?;
        let user_id = client.user_id().context("no user id")?.to_owned();
        let device_id = client.device_id().context("no device id")?.to_owned();
        let detail = format!("{user_id} on device {device_id}");
        Ok(((user_id, device_id), detail))
    })
    .await?;
    let first = client.session_tokens().context("no tokens after login")?;
    ensure!(
        first.refresh_token.is_some(),
        "the token endpoint gave no refresh token"
    );

    step("sync", async {
        let response = client.sync_once(SyncSettings::default()).await?;
        Ok((
            (),
            format!("next_batch received ({} chars)", response.next_batch.len()),
        ))
    })
    .await?;

    step("refresh_access_token", async {
        oauth.refresh_access_token().await?;
        let tokens = client.session_tokens().context("no tokens after refresh")?;
        ensure!(
            tokens.access_token != first.access_token,
            "the access token did not change"
        );
        let rotated = tokens.refresh_token != first.refresh_token;
        Ok((
            (),
            format!("new access token; refresh token rotated: {rotated}"),
        ))
    })
    .await?;
    let refreshed = client.session_tokens().context("no tokens after refresh")?;

    step("whoami with the new token", async {
        let whoami = client.whoami().await?;
        ensure!(whoami.user_id == user_id, "whoami says {}", whoami.user_id);
        ensure!(
            whoami.device_id.as_deref() == Some(&*device_id),
            "whoami's device is {:?}",
            whoami.device_id
        );
        Ok(((), format!("{} on device {device_id}", whoami.user_id)))
    })
    .await?;

    step("logout", async {
        client.logout().await?;
        Ok(((), "revoked at the revocation endpoint".to_owned()))
    })
    .await?;

    // Synapse caches introspection for two minutes, but checks on every request that the
    // token's device still exists: the tokens stop working once Gatehouse's device sync has
    // removed the device, shortly after the revocation.
    step("homeserver rejects the old tokens", async {
        let started = std::time::Instant::now();
        loop {
            let mut accepted = Vec::new();
            for (which, token) in [
                ("first", &first.access_token),
                ("refreshed", &refreshed.access_token),
            ] {
                let (status, errcode) = browser.whoami(&options.homeserver, token).await?;
                if (status, errcode.as_deref()) != (401, Some("M_UNKNOWN_TOKEN")) {
                    accepted.push(format!("the {which} access token got {status} {errcode:?}"));
                }
            }
            if accepted.is_empty() {
                let detail = format!(
                    "401 M_UNKNOWN_TOKEN for both access tokens after {} ms",
                    started.elapsed().as_millis()
                );
                return Ok(((), detail));
            }
            ensure!(
                started.elapsed() < REJECTION_GRACE,
                "{} after {REJECTION_GRACE:?}",
                accepted.join("; ")
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await?;

    step("the refresh token ended with the session", async {
        let refresh_token = refreshed
            .refresh_token
            .as_deref()
            .or(first.refresh_token.as_deref())
            .context("no refresh token")?;
        let (status, error) = browser
            .refresh(&metadata.token_endpoint, &client_id, refresh_token)
            .await?;
        ensure!(
            (status, error.as_deref()) == (400, Some("invalid_grant")),
            "refreshing after logout got {status} {error:?}"
        );
        Ok(((), "400 invalid_grant".to_owned()))
    })
    .await?;

    Ok(())
}

//! `gatehouse doctor`: live checks of the Synapse integration, the ones MAS's doctor makes, each
//! printed with ✅, ⚠️ or ❌ and a hint. Exit code 1 when any check fails.

use std::{process::ExitCode, time::Duration};

use super::setup::ConfigSources;
use crate::synapse::{SynapseClient, SynapseError};

enum Outcome {
    Pass(String),
    Warn(String),
    Fail(String),
}

pub async fn run(sources: &ConfigSources) -> anyhow::Result<ExitCode> {
    let config = sources.load()?;
    crate::crypto::install_tls_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()?;
    let synapse = SynapseClient::new(&config.matrix, config.matrix.secret()?)?;
    let endpoint = config
        .matrix
        .endpoint
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let mut failures = 0;
    let mut report = |name: &str, outcome: Outcome| match outcome {
        Outcome::Pass(text) => println!("✅ {name}: {text}"),
        Outcome::Warn(text) => println!("⚠️  {name}: {text}"),
        Outcome::Fail(text) => {
            failures += 1;
            println!("❌ {name}: {text}");
        }
    };

    // 1. Clients only trust an HTTPS issuer in production.
    let issuer = config.http.issuer();
    report(
        "issuer",
        if issuer.scheme() == "https" {
            Outcome::Pass(format!("{issuer} is HTTPS"))
        } else {
            Outcome::Warn(format!(
                "{issuer} is not HTTPS; set http.public_base (or http.issuer) to the https:// URL clients use, unless this is a local test"
            ))
        },
    );

    // 2. Clients discover the homeserver through .well-known.
    let well_known = format!(
        "https://{}/.well-known/matrix/client",
        config.matrix.homeserver
    );
    let mut client_api = endpoint.clone();
    report(
        "well-known",
        match http.get(&well_known).send().await {
            Ok(response) if response.status().is_success() => {
                match response.json::<serde_json::Value>().await {
                    Ok(body) => match body["m.homeserver"]["base_url"].as_str() {
                        Some(base) => {
                            client_api = base.trim_end_matches('/').to_owned();
                            Outcome::Pass(format!("{well_known} names {base}"))
                        }
                        None => Outcome::Fail(format!(
                            "{well_known} has no m.homeserver.base_url; add it"
                        )),
                    },
                    Err(_) => Outcome::Fail(format!("{well_known} is not JSON")),
                }
            }
            Ok(response) => Outcome::Warn(format!(
                "{well_known} answered {}; clients may not find the homeserver (serve a .well-known/matrix/client document)",
                response.status()
            )),
            Err(_) => Outcome::Warn(format!(
                "could not fetch {well_known}; clients may not find the homeserver (fine for local tests). Using matrix.endpoint for the remaining checks"
            )),
        },
    );

    // 3. The homeserver answers on matrix.endpoint.
    let versions = format!("{endpoint}/_matrix/client/versions");
    report(
        "homeserver reachable",
        match http.get(&versions).send().await {
            Ok(response) if response.status().is_success() => {
                Outcome::Pass(format!("{versions} answers"))
            }
            Ok(response) => Outcome::Fail(format!(
                "{versions} answered {}; check matrix.endpoint",
                response.status()
            )),
            Err(error) => Outcome::Fail(format!(
                "cannot reach {versions}: {}; check matrix.endpoint and that Synapse runs",
                error.without_url()
            )),
        },
    );

    // 4. Synapse delegates token checks to us: a bogus token must get a 401.
    let whoami = format!("{endpoint}/_matrix/client/v3/account/whoami");
    report(
        "token introspection",
        match http.get(&whoami).bearer_auth("mct_doctor_check_not_a_real_token_000000").send().await {
            Ok(response) if response.status() == reqwest::StatusCode::UNAUTHORIZED => {
                Outcome::Pass("Synapse asks Gatehouse about tokens and rejects unknown ones".into())
            }
            Ok(response) if response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => Outcome::Fail(
                "Synapse cannot reach Gatehouse (503): check matrix_authentication_service.endpoint in homeserver.yaml points at Gatehouse's oauth resource".into(),
            ),
            Ok(response) => Outcome::Fail(format!(
                "whoami with a bogus token answered {}; is matrix_authentication_service enabled in Synapse?",
                response.status()
            )),
            Err(error) => Outcome::Fail(format!("cannot reach {whoami}: {}", error.without_url())),
        },
    );

    // 5. The shared secret is accepted by Synapse's MAS API.
    report(
        "shared secret",
        match synapse.check_shared_secret().await {
            Ok(()) => Outcome::Pass("Synapse accepts matrix.secret".into()),
            Err(error @ (SynapseError::Forbidden | SynapseError::IntegrationDisabled)) => {
                Outcome::Fail(error.to_string())
            }
            Err(error) => Outcome::Fail(error.to_string()),
        },
    );

    // 6. The compat endpoints are routed to Gatehouse.
    let login = format!("{client_api}/_matrix/client/v3/login");
    report(
        "compat routing",
        match http.get(&login).send().await {
            Ok(response) if response.status().is_success() => {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                let delegated = body["flows"].as_array().is_some_and(|flows| {
                    flows.iter().any(|flow| {
                        flow["type"] == "m.login.sso"
                            && (flow["oauth_aware_preferred"] == true
                                || flow["org.matrix.msc3824.delegated_oidc_compatibility"] == true)
                    })
                });
                if delegated {
                    Outcome::Pass(format!("{login} is served by Gatehouse"))
                } else {
                    Outcome::Fail(format!(
                        "{login} is not served by Gatehouse; route /_matrix/client/*/login, /logout and /refresh to it in the reverse proxy"
                    ))
                }
            }
            Ok(response) => Outcome::Fail(format!(
                "{login} answered {}; route /_matrix/client/*/login, /logout and /refresh to Gatehouse in the reverse proxy",
                response.status()
            )),
            Err(error) => Outcome::Fail(format!("cannot reach {login}: {}", error.without_url())),
        },
    );

    if failures == 0 {
        println!("All checks passed.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failures} check(s) failed.");
        Ok(ExitCode::FAILURE)
    }
}

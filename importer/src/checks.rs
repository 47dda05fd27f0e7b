//! What must be true before a migration: the Synapse configuration, the Synapse database and
//! the target's configuration must agree, or migrated users could not log in (or the target
//! would hold half a migration). Errors block `migrate`; warnings only inform.

use std::collections::{BTreeMap, HashMap};

use ulid::Ulid;

use crate::{
    source::{SourceError, SynapseDb},
    synapse_config::SynapseConfig,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found, with what to change in its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

/// What the importer needs to know about the target (Gatehouse) configuration and database.
#[derive(Debug, Clone, Default)]
pub struct TargetFacts {
    /// `matrix.homeserver`.
    pub homeserver: String,
    /// `passwords.enabled`.
    pub passwords_enabled: bool,
    /// `passwords.schemes` entry with version 1.
    pub v1_scheme: Option<TargetScheme>,
    /// `upstream_oauth2.providers`.
    pub providers: Vec<TargetProvider>,
    pub captcha_configured: bool,
    pub tos_uri_set: bool,
    /// Tables the migration writes that already hold rows, with their counts.
    pub non_empty_tables: Vec<(String, i64)>,
}

#[derive(Debug, Clone)]
pub struct TargetScheme {
    pub algorithm: String,
    pub pepper: Option<Vec<u8>>,
    pub unicode_normalization: bool,
}

#[derive(Debug, Clone)]
pub struct TargetProvider {
    pub id: Ulid,
    pub synapse_idp_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub ignore_missing_auth_providers: bool,
    /// `--upstream-provider-mapping SYNAPSE_IDP_ID:PROVIDER_ULID`.
    pub provider_mapping: Vec<(String, Ulid)>,
}

/// The outcome of the checks: findings, and the provider each `auth_provider` maps to.
#[derive(Debug, Clone, Default)]
pub struct CheckOutcome {
    pub findings: Vec<Finding>,
    pub provider_map: HashMap<String, Ulid>,
}

impl CheckOutcome {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    pub fn has_warnings(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Warning)
    }

    fn error(&mut self, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Error,
            message: message.into(),
        });
    }

    fn warn(&mut self, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            message: message.into(),
        });
    }
}

/// Run every check. Reads a few aggregates from the Synapse database.
pub async fn run_checks(
    synapse: &SynapseConfig,
    db: &mut SynapseDb,
    target: &TargetFacts,
    options: &CheckOptions,
) -> Result<CheckOutcome, SourceError> {
    let mut out = CheckOutcome::default();
    check_config(synapse, target, &mut out);
    check_database(synapse, db, target, options, &mut out).await?;
    for (table, count) in &target.non_empty_tables {
        out.error(format!(
            "the Gatehouse database is not empty: {table} holds {count} row(s); migrate into a freshly created database (drop and recreate it, then run `gatehouse database migrate`)"
        ));
    }
    Ok(out)
}

fn check_config(synapse: &SynapseConfig, target: &TargetFacts, out: &mut CheckOutcome) {
    if synapse.server_name != target.homeserver {
        out.error(format!(
            "matrix.homeserver is {:?} but Synapse's server_name is {:?}; set matrix.homeserver: {:?}",
            target.homeserver, synapse.server_name, synapse.server_name
        ));
    }
    if synapse.allow_guest_access {
        out.error(
            "Synapse has allow_guest_access: true, and guest access cannot work through Gatehouse; set allow_guest_access: false in homeserver.yaml",
        );
    }
    if synapse.enable_3pid_changes {
        out.error(
            "Synapse has enable_3pid_changes: true; email addresses are managed by Gatehouse after the migration, so remove it from homeserver.yaml (use account.email_change_allowed in Gatehouse)",
        );
    }
    if synapse.login_via_existing_session.enabled {
        out.error(
            "Synapse has login_via_existing_session.enabled: true, which Synapse refuses with Gatehouse; set it to false",
        );
    }

    let synapse_passwords = synapse.password_config.login_enabled();
    if synapse_passwords && synapse.password_config.localdb_enabled {
        let pepper = synapse.pepper();
        let v1_hint = format!(
            "add `{{version: 1, algorithm: bcrypt, unicode_normalization: true{}}}` to passwords.schemes",
            if pepper.is_empty() {
                String::new()
            } else {
                ", secret: <password_config.pepper>".to_owned()
            }
        );
        if !target.passwords_enabled {
            out.error(format!(
                "Synapse users log in with passwords but passwords.enabled is false in Gatehouse, so they could not log in; set passwords.enabled: true and {v1_hint}"
            ));
        }
        match &target.v1_scheme {
            None => out.error(format!(
                "passwords.schemes has no version 1, which migrated Synapse hashes are stored under; {v1_hint}"
            )),
            Some(scheme) => {
                if scheme.algorithm != "bcrypt" {
                    out.error(format!(
                        "passwords.schemes version 1 uses {}, but Synapse's hashes are bcrypt; make version 1 bcrypt (and put the new algorithm under version 2)",
                        scheme.algorithm
                    ));
                }
                let target_pepper = scheme.pepper.as_deref().unwrap_or_default();
                if target_pepper != pepper.as_bytes() {
                    out.error(
                        "the secret of passwords.schemes version 1 differs from Synapse's password_config.pepper; set it to the same value (or remove it when Synapse has no pepper)",
                    );
                }
                if !scheme.unicode_normalization {
                    out.error(
                        "passwords.schemes version 1 lacks unicode_normalization: true; Synapse normalises passwords (NFKC) before hashing, so users with non-ASCII passwords could not log in",
                    );
                }
            }
        }
    }
    if synapse.password_config.login_enabled() && !synapse.password_config.localdb_enabled {
        out.warn(
            "Synapse has password_config.localdb_enabled: false (passwords are checked by a password provider); those passwords cannot be migrated, users will need another way to log in",
        );
    }
    if synapse
        .password_providers
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        out.warn(
            "Synapse has password_providers configured; Gatehouse does not run them, users who log in through them need an upstream provider instead",
        );
    }
    if synapse.enable_registration {
        out.warn(
            "Synapse has enable_registration: true; registration moves to Gatehouse (account.password_registration_enabled), disable it in homeserver.yaml after the migration",
        );
    }
    if synapse.user_consent_enabled() {
        out.warn(
            "Synapse has user_consent configured; Gatehouse asks for terms through branding.tos_uri instead, remove user_consent from homeserver.yaml",
        );
        if !target.tos_uri_set {
            out.warn(
                "Synapse requires consent to terms but branding.tos_uri is not set in Gatehouse; set it so new users still see your terms",
            );
        }
    }
    if synapse.enable_registration_captcha && !target.captcha_configured {
        out.warn(
            "Synapse requires a CAPTCHA at registration but Gatehouse has no captcha.service; configure captcha in Gatehouse",
        );
    }
    for (enabled, name) in [
        (synapse.cas_enabled(), "CAS (cas_config)"),
        (synapse.saml2_enabled(), "SAML2 (saml2_config)"),
        (synapse.jwt_enabled(), "JWT login (jwt_config)"),
    ] {
        if enabled {
            out.warn(format!(
                "Synapse has {name} enabled, which Gatehouse does not support; users logging in that way need an OIDC upstream provider (for example through a bridge such as Dex)"
            ));
        }
    }
}

async fn check_database(
    synapse: &SynapseConfig,
    db: &mut SynapseDb,
    target: &TargetFacts,
    options: &CheckOptions,
    out: &mut CheckOutcome,
) -> Result<(), SourceError> {
    // Users of another server cannot be mapped to a localpart here. One scan counts them and
    // the guests; only when there are any does a second one name their servers.
    let (foreign, guests) = db.user_counts(&synapse.server_name).await?;
    if foreign > 0 {
        let servers = db
            .text_counts(match db {
                SynapseDb::Postgres(_) => {
                    "SELECT substr(name, strpos(name, ':') + 1), count(*) FROM users GROUP BY 1"
                }
                SynapseDb::Sqlite(_) => {
                    "SELECT substr(name, instr(name, ':') + 1), count(*) FROM users GROUP BY 1"
                }
            })
            .await?;
        for (server, count) in &servers {
            if *server != synapse.server_name {
                out.error(format!(
                    "{count} user(s) in Synapse's users table belong to server {server:?}, not server_name {:?}; check that --synapse-config matches this database",
                    synapse.server_name
                ));
            }
        }
    }
    if guests > 0 {
        out.warn(format!(
            "{guests} guest user(s) exist; they are migrated as guests but cannot log in, and their devices and tokens are not carried over"
        ));
    }
    let other_threepids = db
        .scalar("SELECT count(*) FROM user_threepids WHERE medium <> 'email'")
        .await?;
    if other_threepids > 0 {
        out.warn(format!(
            "{other_threepids} non-email third-party id(s) (phone numbers) exist; they are kept as unsupported third-party ids, users cannot log in with them"
        ));
    }

    let in_use: BTreeMap<String, i64> = db
        .text_counts(
            "SELECT auth_provider, count(*) FROM user_external_ids GROUP BY auth_provider ORDER BY auth_provider",
        )
        .await?
        .into_iter()
        .collect();
    let synapse_ids: Vec<String> = synapse
        .oidc_providers()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mapping: HashMap<&str, Ulid> = options
        .provider_mapping
        .iter()
        .map(|(idp, id)| (idp.as_str(), *id))
        .collect();
    for (idp, id) in &options.provider_mapping {
        if !target.providers.iter().any(|p| p.id == *id) {
            out.error(format!(
                "--upstream-provider-mapping {idp}:{id} names a provider that is not in upstream_oauth2.providers; add it there (with id: {id}) or fix the mapping"
            ));
        }
    }
    for (auth_provider, count) in &in_use {
        if auth_provider == "oauth-delegated" {
            out.error(format!(
                "{count} row(s) in user_external_ids have auth_provider 'oauth-delegated', left over from an earlier MSC3861 setup; remove them with `DELETE FROM user_external_ids WHERE auth_provider = 'oauth-delegated';` in Synapse's database"
            ));
            continue;
        }
        let mapped = mapping.get(auth_provider.as_str()).copied().or_else(|| {
            target
                .providers
                .iter()
                .find(|p| p.synapse_idp_id.as_deref() == Some(auth_provider))
                .map(|p| p.id)
        });
        let known = synapse_ids.contains(auth_provider);
        let (ignore, severity_text) = if options.ignore_missing_auth_providers {
            (
                true,
                "their links are skipped (--ignore-missing-auth-providers)",
            )
        } else {
            (
                false,
                "pass --ignore-missing-auth-providers to skip these links",
            )
        };
        if !known {
            let message = format!(
                "{count} user(s) are linked to auth provider {auth_provider:?}, which is not among Synapse's oidc_providers; {severity_text}"
            );
            if ignore {
                out.warn(message)
            } else {
                out.error(message)
            }
        }
        match mapped {
            Some(id) => {
                out.provider_map.insert(auth_provider.clone(), id);
            }
            None if known || !ignore => {
                let message = format!(
                    "{count} user(s) are linked to Synapse auth provider {auth_provider:?} but no provider in upstream_oauth2.providers has synapse_idp_id: {auth_provider:?}; add one (gatehouse config generate --synapse-config writes it), or pass --upstream-provider-mapping {auth_provider}:<PROVIDER_ULID>{}",
                    if ignore {
                        "; the links are skipped"
                    } else {
                        ""
                    }
                );
                if ignore {
                    out.warn(message)
                } else {
                    out.error(message)
                }
            }
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synapse(yaml: &str) -> SynapseConfig {
        SynapseConfig::from_value(serde_yaml_ng::from_str(yaml).unwrap()).unwrap()
    }

    fn good_target() -> TargetFacts {
        TargetFacts {
            homeserver: "example.test".into(),
            passwords_enabled: true,
            v1_scheme: Some(TargetScheme {
                algorithm: "bcrypt".into(),
                pepper: Some(b"pep".to_vec()),
                unicode_normalization: true,
            }),
            ..TargetFacts::default()
        }
    }

    #[test]
    fn matching_config_is_clean() {
        let mut out = CheckOutcome::default();
        check_config(
            &synapse("server_name: example.test\npassword_config: {pepper: pep}\n"),
            &good_target(),
            &mut out,
        );
        assert!(out.findings.is_empty(), "{:?}", out.findings);
    }

    #[test]
    fn each_mismatch_is_an_error_that_says_what_to_change() {
        let mut out = CheckOutcome::default();
        let mut target = good_target();
        target.homeserver = "other.test".into();
        target.v1_scheme = Some(TargetScheme {
            algorithm: "argon2id".into(),
            pepper: None,
            unicode_normalization: false,
        });
        check_config(
            &synapse(
                "server_name: example.test\npassword_config: {pepper: pep}\nallow_guest_access: true\nenable_3pid_changes: true\nlogin_via_existing_session: {enabled: true}\n",
            ),
            &target,
            &mut out,
        );
        let errors: Vec<&str> = out
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(errors.len(), 7, "{errors:#?}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("set matrix.homeserver: \"example.test\""))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("allow_guest_access: false"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("unicode_normalization: true"))
        );
        assert!(errors.iter().any(|e| e.contains("password_config.pepper")));
    }

    #[test]
    fn warnings_for_registration_consent_captcha_and_sso() {
        let mut out = CheckOutcome::default();
        check_config(
            &synapse(
                "server_name: example.test\npassword_config: {pepper: pep}\nenable_registration: true\nuser_consent: {template_dir: x}\nenable_registration_captcha: true\ncas_config: {enabled: true}\nsaml2_config: {sp_config: {}}\n",
            ),
            &good_target(),
            &mut out,
        );
        assert!(!out.has_errors(), "{:?}", out.findings);
        assert_eq!(out.findings.len(), 6, "{:#?}", out.findings);
    }
}

//! `config generate --synapse-config`: fill a generated configuration from Synapse's
//! `homeserver.yaml`, so that a migrated homeserver keeps working the same way (MAS's mapping,
//! reference/mas-inventory.md §7.4): server name and endpoint, password schemes that verify
//! Synapse's hashes, account flags, CAPTCHA, and one upstream provider per OIDC provider.

use gatehouse_importer::synapse_config::{OidcProvider, SynapseConfig};
use rand::{CryptoRng, RngCore};
use serde_yaml_ng::{Mapping, Value};
use ulid::Ulid;
use url::Url;

use super::{
    CaptchaService, ConfigError, PasswordAlgorithm, PasswordSchemeConfig, RootConfig,
    UpstreamProviderConfig,
};

/// Apply `synapse` to `config`. Returns warnings about settings that do not carry over.
pub fn apply_synapse_config(
    config: &mut RootConfig,
    synapse: &SynapseConfig,
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    config.matrix.homeserver = synapse.server_name.clone();
    if let Some(base) = &synapse.public_baseurl {
        config.matrix.endpoint = Url::parse(base)
            .map_err(|e| ConfigError::invalid("public_baseurl (homeserver.yaml)", e.to_string()))?;
    }

    if synapse.password_config.login_enabled() {
        config.passwords.enabled = true;
        let pepper = synapse.pepper();
        config.passwords.schemes = vec![
            PasswordSchemeConfig {
                version: 1,
                algorithm: PasswordAlgorithm::Bcrypt,
                cost: Some(synapse.bcrypt_rounds.unwrap_or(12)),
                secret: (!pepper.is_empty()).then(|| pepper.to_owned()),
                secret_file: None,
                unicode_normalization: true,
            },
            PasswordSchemeConfig {
                version: 2,
                algorithm: PasswordAlgorithm::Argon2id,
                cost: None,
                secret: None,
                secret_file: None,
                unicode_normalization: false,
            },
        ];
        config.account.password_registration_enabled = synapse.enable_registration;
    } else {
        config.passwords.enabled = false;
        config.account.password_registration_enabled = false;
    }
    config.account.email_change_allowed = synapse.enable_3pid_changes;
    config.account.displayname_change_allowed = synapse.enable_set_display_name.unwrap_or(true);

    if synapse.enable_registration_captcha {
        config.captcha.service = Some(CaptchaService::RecaptchaV2);
        config.captcha.site_key = synapse.recaptcha_public_key.clone();
        config.captcha.secret_key = synapse.recaptcha_private_key.clone();
    }

    for (synapse_idp_id, provider) in synapse.oidc_providers() {
        let id = Ulid::from_parts(
            u64::try_from(
                crate::domain::Clock::now(&crate::domain::SystemClock).timestamp_millis(),
            )
            .unwrap_or_default(),
            u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()),
        );
        config.upstream_oauth2.providers.push(provider_from_synapse(
            id,
            &synapse_idp_id,
            provider,
            &mut warnings,
        ));
    }
    for (enabled, name) in [
        (synapse.cas_enabled(), "cas_config"),
        (synapse.saml2_enabled(), "saml2_config"),
        (synapse.jwt_enabled(), "jwt_config"),
    ] {
        if enabled {
            warnings.push(format!(
                "homeserver.yaml {name} is not supported by Gatehouse and was not carried over"
            ));
        }
    }
    config.validate()?;
    Ok(warnings)
}

fn provider_from_synapse(
    id: Ulid,
    synapse_idp_id: &str,
    p: &OidcProvider,
    warnings: &mut Vec<String>,
) -> UpstreamProviderConfig {
    let mut out = UpstreamProviderConfig::new(id, p.client_id.clone().unwrap_or_default());
    out.synapse_idp_id = Some(synapse_idp_id.to_owned());
    out.issuer = p.issuer.clone();
    out.human_name = p.idp_name.clone();
    out.brand_name = p.idp_brand.clone();
    out.client_secret = p.client_secret.clone();
    out.client_secret_file = p.client_secret_path.as_ref().map(Into::into);
    out.token_endpoint_auth_method = Some(
        p.client_auth_method
            .clone()
            .unwrap_or_else(|| "client_secret_basic".to_owned()),
    );
    out.scope = Some(
        p.scopes
            .as_ref()
            .map_or_else(|| "openid".to_owned(), |s| s.join(" ")),
    );
    out.discovery_mode = match (p.discover, p.skip_verification) {
        (Some(false), _) => Some("disabled".to_owned()),
        (_, Some(true)) => Some("insecure".to_owned()),
        _ => None,
    };
    out.pkce_method = p.pkce_method.clone();
    if p.user_profile_method.as_deref() == Some("userinfo_endpoint") {
        out.fetch_userinfo = Some(true);
    }
    out.authorization_endpoint = p.authorization_endpoint.clone();
    out.token_endpoint = p.token_endpoint.clone();
    out.userinfo_endpoint = p.userinfo_endpoint.clone();
    out.jwks_uri = p.jwks_uri.clone();
    if let Some(mode) = p
        .additional_authorization_parameters
        .as_ref()
        .and_then(|params| params.get("response_mode"))
        .and_then(Value::as_str)
    {
        out.response_mode = Some(mode.to_owned());
    }
    if p.client_secret_jwt_key.is_some() {
        warnings.push(format!(
            "{synapse_idp_id}: client_secret_jwt_key is not carried over; configure token_endpoint_auth_method private_key_jwt by hand"
        ));
    }
    if p.attribute_requirements.is_some() {
        warnings.push(format!(
            "{synapse_idp_id}: attribute_requirements has no Gatehouse equivalent and was not carried over"
        ));
    }
    out.claims_imports = claims_imports(synapse_idp_id, p.user_mapping_provider.as_ref(), warnings);
    out
}

/// `user_mapping_provider.config` → `claims_imports`.
fn claims_imports(
    synapse_idp_id: &str,
    mapping: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Option<Value> {
    let mapping = mapping?;
    if let Some(module) = mapping.get("module").and_then(Value::as_str)
        && module != "synapse.handlers.oidc.JinjaOidcMappingProvider"
    {
        warnings.push(format!(
            "{synapse_idp_id}: custom user mapping provider {module} cannot be carried over; review claims_imports"
        ));
    }
    let config = mapping.get("config")?;
    let text = |key: &str| config.get(key).and_then(Value::as_str).map(str::to_owned);
    let confirm = config
        .get("confirm_localpart")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut imports = Mapping::new();
    let mut entry = |name: &str, action: &str, template: String| {
        let mut m = Mapping::new();
        if !action.is_empty() {
            m.insert("action".into(), action.into());
        }
        m.insert("template".into(), template.into());
        imports.insert(name.into(), Value::Mapping(m));
    };
    if let Some(template) = text("subject_template")
        .or_else(|| text("subject_claim").map(|claim| format!("{{{{ user.{claim} }}}}")))
    {
        entry("subject", "", template);
    }
    if let Some(template) = text("localpart_template") {
        entry(
            "localpart",
            if confirm { "suggest" } else { "require" },
            template,
        );
    }
    if let Some(template) = text("display_name_template") {
        entry(
            "displayname",
            if confirm { "suggest" } else { "force" },
            template,
        );
    }
    if let Some(template) = text("email_template") {
        entry("email", if confirm { "suggest" } else { "force" }, template);
    }
    (!imports.is_empty()).then_some(Value::Mapping(imports))
}

//! Who may call the admin API: a bearer token that `access::resolve_access_token` finds active
//! and that carries `urn:mas:admin`, held by a user who may still request admin scopes. Every
//! refusal is the same 401 (MAS answers 401 for a missing scope too).

use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use super::error::AdminError;
use crate::{
    domain::scopes::MAS_ADMIN,
    http::AppState,
    services::access::{ActiveToken, resolve_access_token},
};

/// An access token with the `urn:mas:admin` scope: a personal access token (`mpt_…`, from
/// `gatehouse manage issue-personal-token USER --scope urn:mas:admin` or `POST /personal-sessions`).
#[derive(SecurityScheme)]
#[oai(
    rename = "bearer",
    ty = "bearer",
    bearer_format = "mpt_…",
    checker = "check_admin_token"
)]
pub struct AdminAuth(pub ActiveToken);

async fn check_admin_token(req: &Request, bearer: Bearer) -> poem::Result<ActiveToken> {
    let refuse = || poem::Error::from(AdminError::unauthorized());
    let Some(state) = req.data::<AppState>() else {
        return Err(AdminError::internal(&std::io::Error::other("AppState is not mounted")).into());
    };
    let mut reader = state.store.reader().await.map_err(AdminError::from)?;
    let token = resolve_access_token(&mut reader, &bearer.token, state.clock.now())
        .await
        .map_err(AdminError::from)?
        .ok_or_else(refuse)?;
    // The scope is the effective one: a demoted admin's tokens no longer carry it.
    if !token.has_scope(MAS_ADMIN) {
        return Err(refuse());
    }
    let ip = crate::http::client_ip::client_ip(req, &state.trusted_proxies);
    state.activity.token_used(&token, state.clock.now(), ip);
    Ok(token)
}

//! Every operation that ends (or narrows) access tokens, in one table: the token is introspected
//! first (so the introspection cache holds its answer), the operation runs, and the very next
//! introspection says inactive (or no longer admin). Operations on the whole user end (or
//! narrow) the user's OAuth 2.0 tokens too, checked the same way. On both backends, with the
//! cache on.

use serde_json::{Value, json};

use gatehouse::services::oauth2_sessions;

use crate::{common::TestDb, hardening::Setup, oauth2_grants::oauth_session, on_both_backends};

const PASSWORD: &str = "correct horse battery staple";

/// What ends the token, and how the next introspection must answer.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Logout,
    LogoutAll,
    Refresh,
    Lock,
    Deactivate,
    KillSessions,
    KillSessionsFromCli,
    PasswordResetWithLogout,
    AdminPasswordResetWithLogout,
    PersonalSessionRevoke,
    AdminFinishCompatSession,
    AdminBulkKillSessions,
    Demotion,
    AdminFinishOAuth2Session,
    OAuthRevoke,
    OAuthRefresh,
}

impl Ending {
    /// Operations on the user as a whole, which must reach every kind of session.
    fn is_user_wide(self) -> bool {
        matches!(
            self,
            Ending::Lock
                | Ending::Deactivate
                | Ending::KillSessions
                | Ending::KillSessionsFromCli
                | Ending::PasswordResetWithLogout
                | Ending::AdminPasswordResetWithLogout
                | Ending::AdminBulkKillSessions
                | Ending::Demotion
        )
    }

    fn is_oauth(self) -> bool {
        matches!(
            self,
            Ending::AdminFinishOAuth2Session | Ending::OAuthRevoke | Ending::OAuthRefresh
        )
    }
}

const EVERY_ENDING: [Ending; 16] = [
    Ending::Logout,
    Ending::LogoutAll,
    Ending::Refresh,
    Ending::Lock,
    Ending::Deactivate,
    Ending::KillSessions,
    Ending::KillSessionsFromCli,
    Ending::PasswordResetWithLogout,
    Ending::AdminPasswordResetWithLogout,
    Ending::PersonalSessionRevoke,
    Ending::AdminFinishCompatSession,
    Ending::AdminBulkKillSessions,
    Ending::Demotion,
    Ending::AdminFinishOAuth2Session,
    Ending::OAuthRevoke,
    Ending::OAuthRefresh,
];

async fn every_token_ending_operation_takes_effect_at_once(db: TestDb) {
    let setup = Setup::start(&db).await;
    assert!(
        setup.server.state.token_cache.ttl() > std::time::Duration::ZERO,
        "the introspection cache is on"
    );
    setup.register("root", true).await;
    let admin = setup.admin_token("root");
    let synapse_admin = setup.synapse_admin_token("root");

    for (n, ending) in EVERY_ENDING.into_iter().enumerate() {
        let username = format!("user{n}");
        // Demotion narrows an admin's token; every other case ends a plain user's.
        setup
            .register(&username, matches!(ending, Ending::Demotion))
            .await;
        let user_id = setup.user_id(&admin, &username).await;
        let user = gatehouse::services::accounts::find_user(&setup.server.store, &username)
            .await
            .unwrap();
        let oauth_scope = if matches!(ending, Ending::Demotion) {
            "urn:matrix:client:api:* urn:synapse:admin:*"
        } else {
            "urn:matrix:client:api:*"
        };
        let oauth = if ending.is_user_wide() || ending.is_oauth() {
            Some(oauth_session(&setup, &user, oauth_scope).await)
        } else {
            None
        };
        let (token, refresh_token) = match (ending, &oauth) {
            (_, Some((_, issued))) if ending.is_oauth() => {
                (issued.access_token.clone(), issued.refresh_token.clone())
            }
            _ => match ending {
                Ending::PersonalSessionRevoke => {
                    let (status, body) = setup
                    .request(
                        reqwest::Method::POST,
                        "/api/admin/v1/personal-sessions",
                        &admin,
                        Some(json!({"actor_user_id": user_id, "human_name": "script", "scope": "urn:matrix:client:api:*"})),
                    )
                    .await;
                    assert_eq!(status, 201, "{body}");
                    (
                        body["data"]["attributes"]["access_token"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                        None,
                    )
                }
                Ending::Demotion => (
                    setup.cli(&[
                        "manage",
                        "issue-compatibility-token",
                        &username,
                        "--yes-i-want-to-grant-synapse-admin-privileges",
                    ]),
                    None,
                ),
                _ => {
                    let (status, login) = setup
                    .server
                    .post_json(
                        "/_matrix/client/v3/login",
                        json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": username}, "password": PASSWORD, "refresh_token": true}),
                    )
                    .await;
                    assert_eq!(status, 200, "{ending:?}: {login}");
                    (
                        login["access_token"].as_str().unwrap().to_owned(),
                        login["refresh_token"].as_str().map(str::to_owned),
                    )
                }
            },
        };
        let oauth_token = oauth
            .as_ref()
            .filter(|_| ending.is_user_wide())
            .map(|(_, issued)| issued.access_token.clone());
        for token in std::iter::once(&token).chain(&oauth_token) {
            let before = setup.server.introspect(token, true).await;
            assert_eq!(before["active"], true, "{ending:?}: {before}");
            // Asked twice: the second answer comes from the cache.
            assert_eq!(setup.server.introspect(token, true).await, before);
        }

        let user_path = format!("/api/admin/v1/users/{user_id}");
        let mxid = format!("@{username}:example.test");
        match ending {
            Ending::Logout => {
                let (status, _) = setup
                    .request(
                        reqwest::Method::POST,
                        "/_matrix/client/v3/logout",
                        &token,
                        None,
                    )
                    .await;
                assert_eq!(status, 200);
            }
            Ending::LogoutAll => {
                let (status, _) = setup
                    .request(
                        reqwest::Method::POST,
                        "/_matrix/client/v3/logout/all",
                        &token,
                        Some(json!({"io.element.only_compat_is_fine": true})),
                    )
                    .await;
                assert_eq!(status, 200);
            }
            Ending::Refresh => {
                let (status, body) = setup
                    .server
                    .post_json(
                        "/_matrix/client/v3/refresh",
                        json!({"refresh_token": refresh_token.clone().unwrap()}),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
            }
            Ending::Lock => admin_post(&setup, &admin, &format!("{user_path}/lock"), None).await,
            Ending::Deactivate => {
                admin_post(&setup, &admin, &format!("{user_path}/deactivate"), None).await
            }
            Ending::KillSessions => {
                let user = gatehouse::services::accounts::find_user(&setup.server.store, &username)
                    .await
                    .unwrap();
                gatehouse::services::accounts::kill_sessions(
                    &setup.server.store,
                    &setup.server.clock,
                    user.id,
                    false,
                )
                .await
                .unwrap();
            }
            Ending::KillSessionsFromCli => {
                setup.cli(&["manage", "kill-sessions", &username]);
            }
            Ending::PasswordResetWithLogout => {
                let (status, _) = setup
                    .request(
                        reqwest::Method::POST,
                        &format!("/_synapse/admin/v1/reset_password/{mxid}"),
                        &synapse_admin,
                        Some(json!({"new_password": "a brand new passphrase", "logout_devices": true})),
                    )
                    .await;
                assert_eq!(status, 200);
            }
            Ending::AdminPasswordResetWithLogout => {
                let (status, _) = setup
                    .request(
                        reqwest::Method::PUT,
                        &format!("/_synapse/admin/v2/users/{mxid}"),
                        &synapse_admin,
                        Some(json!({"password": "a brand new passphrase", "logout_devices": true})),
                    )
                    .await;
                assert_eq!(status, 200);
            }
            Ending::PersonalSessionRevoke => {
                let (_, sessions) = setup
                    .request(
                        reqwest::Method::GET,
                        &format!("/api/admin/v1/personal-sessions?filter[actor_user]={user_id}"),
                        &admin,
                        None,
                    )
                    .await;
                let id = sessions["data"][0]["id"].as_str().unwrap().to_owned();
                admin_post(
                    &setup,
                    &admin,
                    &format!("/api/admin/v1/personal-sessions/{id}/revoke"),
                    None,
                )
                .await;
            }
            Ending::AdminFinishCompatSession => {
                let (_, sessions) = setup
                    .request(
                        reqwest::Method::GET,
                        &format!("/api/admin/v1/compat-sessions?filter[user]={user_id}"),
                        &admin,
                        None,
                    )
                    .await;
                let id = sessions["data"][0]["id"].as_str().unwrap().to_owned();
                admin_post(
                    &setup,
                    &admin,
                    &format!("/api/admin/v1/compat-sessions/{id}/finish"),
                    None,
                )
                .await;
            }
            Ending::AdminBulkKillSessions => {
                admin_post(
                    &setup,
                    &admin,
                    "/api/admin/v1/users/bulk",
                    Some(json!({"action": "kill-sessions", "user_ids": [user_id]})),
                )
                .await;
            }
            Ending::Demotion => {
                admin_post(
                    &setup,
                    &admin,
                    &format!("{user_path}/set-admin"),
                    Some(json!({"admin": false})),
                )
                .await;
            }
            Ending::AdminFinishOAuth2Session => {
                let (_, issued) = oauth.as_ref().unwrap();
                admin_post(
                    &setup,
                    &admin,
                    &format!("/api/admin/v1/oauth2-sessions/{}/finish", issued.session.id),
                    None,
                )
                .await;
            }
            Ending::OAuthRevoke => {
                let (client, _) = oauth.as_ref().unwrap();
                let ended = oauth2_sessions::revoke(
                    &setup.server.store,
                    &setup.server.clock,
                    client.id,
                    &token,
                )
                .await
                .unwrap();
                assert!(ended.is_some());
            }
            Ending::OAuthRefresh => {
                let (client, _) = oauth.as_ref().unwrap();
                oauth2_sessions::refresh(
                    &setup.server.store,
                    &setup.server.clock,
                    &mut setup.server.state.random.rng(),
                    &setup.server.state.refresh_successors,
                    client,
                    oauth2_sessions::RefreshRequest {
                        refresh_token: refresh_token.as_deref().unwrap(),
                        scope: None,
                    },
                    chrono::Duration::seconds(300),
                )
                .await
                .unwrap();
            }
        }

        for token in std::iter::once(&token).chain(&oauth_token) {
            check_after(&setup, ending, token).await;
        }
    }
}

/// The token's introspection after `ending` ran: inactive, or (demotion) without admin rights.
async fn check_after(setup: &Setup, ending: Ending, token: &str) {
    let after = if matches!(ending, Ending::KillSessionsFromCli) {
        // Another process: the server learns of it within about a second.
        setup
            .introspect_until(token, |answer| answer["active"] == false)
            .await
    } else {
        setup.server.introspect(token, true).await
    };
    match ending {
        Ending::Demotion => {
            assert_eq!(after["active"], true, "{ending:?}");
            assert!(
                !after["scope"]
                    .as_str()
                    .unwrap()
                    .contains("urn:synapse:admin:*"),
                "{ending:?}: narrowed at once: {after}"
            );
        }
        _ => assert_eq!(
            after,
            json!({"active": false}),
            "{ending:?}: the token ends at once"
        ),
    }
}

async fn admin_post(setup: &Setup, admin: &str, path: &str, body: Option<Value>) {
    let (status, answer) = setup
        .request(reqwest::Method::POST, path, admin, body)
        .await;
    assert!(status < 300, "{path}: {status} {answer}");
}

on_both_backends!(every_token_ending_operation_takes_effect_at_once);

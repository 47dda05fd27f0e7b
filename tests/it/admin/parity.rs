//! What MAS 1.22's admin API has and Gatehouse lacked: the session lists' time filters, the
//! client list's `filter[has-active-sessions]`, and the attributes `redirect_uri` (compat
//! sessions), `logo_uri` (clients) and `registration_token_required` (upstream providers).

use chrono::{DateTime, Duration, Utc};
use gatehouse::{
    domain::{
        Clock,
        browser_sessions::BrowserSession,
        compat::CompatSession,
        oauth2_clients::{ClientMetadata, GrantType, GrantTypes, OAuth2Client},
        oauth2_sessions::OAuth2Session,
        scopes::Scope,
        upstream::UpstreamProvider,
    },
    services::{compat_sessions, compat_sso},
};
use serde_json::{Value, json};

use super::Admin;
use crate::{common::TestDb, on_both_backends};

/// The IDs in a list answer, in order.
fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {list}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `name=value` with the time in RFC 3339, escaped for a query string.
fn at(name: &str, time: DateTime<Utc>) -> String {
    let time = time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    format!(
        "{name}={}",
        url::form_urlencoded::byte_serialize(time.as_bytes()).collect::<String>()
    )
}

/// Three sessions' times: created at t0, t0+1h, t0+2h; last active at t0+30m, never, t0+3h.
struct Times {
    t0: DateTime<Utc>,
}

impl Times {
    fn created(&self, i: usize) -> DateTime<Utc> {
        self.t0 + Duration::hours(i as i64)
    }

    /// An ID made at the item's creation time, so that lists (in ID order) are in creation
    /// order.
    fn id(&self, i: usize) -> ulid::Ulid {
        ulid::Ulid::from_datetime(self.created(i).into())
    }

    fn last_active(&self, i: usize) -> Option<DateTime<Utc>> {
        match i {
            0 => Some(self.t0 + Duration::minutes(30)),
            1 => None,
            _ => Some(self.t0 + Duration::hours(3)),
        }
    }
}

/// Check the four time filters on `path`, whose items 0, 1, 2 have the times of [`Times`].
async fn check_time_filters(admin: &Admin, path: &str, t: &Times, items: &[String]) {
    let list = |query: String| async move {
        let (status, list) = admin.get(&format!("{path}?{query}")).await;
        assert_eq!(status, 200, "{query}: {list}");
        ids(&list)
    };
    let pick =
        |which: &[usize]| -> Vec<String> { which.iter().map(|&i| items[i].clone()).collect() };
    // Strict bounds: a session created exactly at the bound is left out.
    assert_eq!(
        list(at("filter[created-after]", t.created(0))).await,
        pick(&[1, 2])
    );
    assert_eq!(
        list(at("filter[created-before]", t.created(1))).await,
        pick(&[0])
    );
    assert_eq!(
        list(format!(
            "{}&{}",
            at("filter[created-after]", t.created(0) - Duration::seconds(1)),
            at("filter[created-before]", t.created(2))
        ))
        .await,
        pick(&[0, 1])
    );
    // Never active: in neither last-active list.
    let middle = t.t0 + Duration::hours(1);
    assert_eq!(
        list(at("filter[last-active-after]", middle)).await,
        pick(&[2])
    );
    assert_eq!(
        list(at("filter[last-active-before]", middle)).await,
        pick(&[0])
    );
    assert_eq!(
        list(at("filter[last-active-before]", t.t0 + Duration::hours(4))).await,
        pick(&[0, 2])
    );
    // The filters stay on the links.
    let (_, page) = admin
        .get(&format!(
            "{path}?page[first]=1&{}",
            at("filter[created-after]", t.created(0))
        ))
        .await;
    let next = page["links"]["next"].as_str().unwrap();
    assert!(next.contains("created-after"), "{next}");
    let (_, second) = admin.get(next).await;
    assert_eq!(ids(&second), pick(&[2]));
    // Not a time: a 400.
    let (status, body) = admin
        .get(&format!("{path}?filter[created-after]=yesterday"))
        .await;
    assert_eq!(status, 400, "{body}");
}

async fn compat_session_time_filters_and_redirect_uri(db: TestDb) {
    let admin = Admin::new(db).await;
    let alice = admin.register("alice", false).await;
    let t = Times {
        t0: admin.clock.now() - Duration::days(1),
    };
    let mut sessions = Vec::new();
    let mut repo = admin.store().repo().await.unwrap();
    for i in 0..3 {
        let session = CompatSession {
            id: t.id(i),
            user_id: alice.id,
            device_id: Some(format!("DEVICE{i}")),
            human_name: None,
            created_at: t.created(i),
            finished_at: None,
            is_synapse_admin: false,
            last_active_at: t.last_active(i),
            last_active_ip: None,
            user_agent: None,
            redirect_uri: None,
        };
        repo.compat().add_session(&session).await.unwrap();
        sessions.push(session.id.to_string());
    }
    repo.save().await.unwrap();
    check_time_filters(&admin, "/api/admin/v1/compat-sessions", &t, &sessions).await;

    // A session from an SSO login shows where the login sent the client back; others `null`.
    let (_, plain) = admin
        .get(&format!("/api/admin/v1/compat-sessions/{}", sessions[0]))
        .await;
    assert!(
        plain["data"]["attributes"]
            .as_object()
            .unwrap()
            .contains_key("redirect_uri")
    );
    assert_eq!(plain["data"]["attributes"]["redirect_uri"], Value::Null);
    let mut rng = admin.state.random.rng();
    let login = compat_sso::start(
        admin.store(),
        &admin.clock,
        &mut rng,
        "https://app.example/done",
    )
    .await
    .unwrap();
    let browser = BrowserSession {
        id: ulid::Ulid::new(),
        user_id: alice.id,
        created_at: admin.clock.now(),
        finished_at: None,
        user_agent: None,
        last_active_at: Some(admin.clock.now()),
        last_active_ip: None,
    };
    let mut repo = admin.store().repo().await.unwrap();
    repo.browser_sessions().add(&browser).await.unwrap();
    repo.save().await.unwrap();
    let (_, token) =
        compat_sso::fulfil(admin.store(), &admin.clock, &mut rng, login.id, browser.id)
            .await
            .unwrap()
            .expect("fulfilled");
    let limits = admin.state.config.experimental.browser_session_limits();
    let (user, login_id) = compat_sso::exchange(admin.store(), &admin.clock, &limits, &token)
        .await
        .unwrap()
        .expect("exchanged");
    assert_eq!(login_id, login.id);
    let started = compat_sessions::start(
        admin.store(),
        &admin.clock,
        &mut rng,
        &user,
        compat_sessions::SessionRequest {
            device_id: "SSODEVICE".to_owned(),
            display_name: None,
            refreshable: None,
            is_synapse_admin: false,
            user_agent: None,
            ip: None,
            sso_login: Some(login.id),
        },
    )
    .await
    .unwrap();
    let (status, sso) = admin
        .get(&format!(
            "/api/admin/v1/compat-sessions/{}",
            started.session.id
        ))
        .await;
    assert_eq!(status, 200, "{sso}");
    assert_eq!(
        sso["data"]["attributes"]["redirect_uri"],
        "https://app.example/done"
    );
    // Housekeeping keeps the login of a session (it holds the session's redirect_uri).
    admin.clock.advance(Duration::days(1));
    let mut repo = admin.store().repo().await.unwrap();
    let deleted = repo
        .compat_sso()
        .delete_started_before(admin.clock.now())
        .await
        .unwrap();
    repo.save().await.unwrap();
    assert_eq!(deleted, 0);
    let (_, listed) = admin
        .get("/api/admin/v1/compat-sessions?filter[status]=active&page[last]=1")
        .await;
    assert_eq!(
        listed["data"][0]["attributes"]["redirect_uri"],
        "https://app.example/done"
    );
}

fn client(admin: &Admin, name: &str) -> OAuth2Client {
    OAuth2Client {
        id: ulid::Ulid::new(),
        is_static: false,
        encrypted_client_secret: None,
        token_endpoint_auth_method: None,
        jwks: None,
        jwks_uri: None,
        redirect_uris: Vec::new(),
        client_name: Some(name.to_owned()),
        client_uri: None,
        grant_types: [GrantType::ClientCredentials]
            .into_iter()
            .collect::<GrantTypes>(),
        metadata: ClientMetadata {
            logo_uri: Some(format!("https://{name}.example.org/logo.png")),
            ..Default::default()
        },
        created_at: admin.clock.now(),
    }
}

fn oauth2_session(client: &OAuth2Client, created_at: DateTime<Utc>) -> OAuth2Session {
    OAuth2Session {
        id: ulid::Ulid::new(),
        client_id: client.id,
        user_id: None,
        user_session_id: None,
        scope: Scope::parse("urn:mas:admin").unwrap(),
        created_at,
        finished_at: None,
        last_active_at: None,
        last_active_ip: None,
        user_agent: None,
        human_name: None,
    }
}

async fn oauth2_session_time_filters(db: TestDb) {
    let admin = Admin::new(db).await;
    let robot = client(&admin, "robot");
    let t = Times {
        t0: admin.clock.now() - Duration::days(1),
    };
    let mut repo = admin.store().repo().await.unwrap();
    repo.oauth2_clients().upsert(&robot).await.unwrap();
    let mut items = Vec::new();
    for i in 0..3 {
        let mut session = oauth2_session(&robot, t.created(i));
        session.id = t.id(i);
        session.last_active_at = t.last_active(i);
        repo.oauth2_sessions().add(&session).await.unwrap();
        items.push(session.id.to_string());
    }
    repo.save().await.unwrap();
    check_time_filters(&admin, "/api/admin/v1/oauth2-sessions", &t, &items).await;
}

async fn oauth2_clients_has_active_sessions_and_logo_uri(db: TestDb) {
    let admin = Admin::new(db).await;
    let busy = client(&admin, "busy");
    let done = client(&admin, "done");
    let idle = client(&admin, "idle");
    let mut repo = admin.store().repo().await.unwrap();
    for c in [&busy, &done, &idle] {
        repo.oauth2_clients().upsert(c).await.unwrap();
    }
    repo.oauth2_sessions()
        .add(&oauth2_session(&busy, admin.clock.now()))
        .await
        .unwrap();
    let mut finished = oauth2_session(&done, admin.clock.now());
    finished.finished_at = Some(admin.clock.now());
    repo.oauth2_sessions().add(&finished).await.unwrap();
    repo.save().await.unwrap();
    let names = |query: &'static str| {
        let admin = &admin;
        async move {
            let (status, list) = admin
                .get(&format!("/api/admin/v1/oauth2-clients?{query}"))
                .await;
            assert_eq!(status, 200, "{query}: {list}");
            let mut names: Vec<String> = list["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["attributes"]["client_name"].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(names("filter[has-active-sessions]=true").await, ["busy"]);
    assert_eq!(
        names("filter[has-active-sessions]=false").await,
        ["done", "idle"]
    );
    assert_eq!(names("").await, ["busy", "done", "idle"]);
    let (status, body) = admin
        .get("/api/admin/v1/oauth2-clients?filter[has-active-sessions]=maybe")
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, one) = admin
        .get(&format!("/api/admin/v1/oauth2-clients/{}", busy.id))
        .await;
    assert_eq!(
        one["data"]["attributes"]["logo_uri"],
        "https://busy.example.org/logo.png"
    );
}

async fn upstream_providers_show_registration_token_required(db: TestDb) {
    let admin = Admin::new(db).await;
    let provider = |name: &str, config: Value| UpstreamProvider {
        id: ulid::Ulid::new(),
        issuer: Some(format!("https://{name}.example.org/")),
        human_name: Some(name.to_owned()),
        brand_name: None,
        synapse_idp_id: None,
        client_id: format!("{name}-client"),
        encrypted_client_secret: None,
        token_endpoint_auth_method: gatehouse::domain::upstream::UpstreamAuthMethod::Standard(
            gatehouse::domain::oauth2_clients::TokenEndpointAuthMethod::None,
        ),
        scope: Scope::parse("openid").unwrap(),
        ui_order: 0,
        config,
        created_at: admin.clock.now(),
        disabled_at: None,
    };
    let invite_only = provider("invite", json!({"registration_token_required": true}));
    let open = provider("open", json!({}));
    let mut repo = admin.store().repo().await.unwrap();
    repo.upstream().upsert_provider(&invite_only).await.unwrap();
    repo.upstream().upsert_provider(&open).await.unwrap();
    repo.save().await.unwrap();
    for (p, required) in [(&invite_only, true), (&open, false)] {
        let (status, one) = admin
            .get(&format!("/api/admin/v1/upstream-oauth-providers/{}", p.id))
            .await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(
            one["data"]["attributes"]["registration_token_required"],
            required
        );
    }
}

on_both_backends!(
    compat_session_time_filters_and_redirect_uri,
    oauth2_session_time_filters,
    oauth2_clients_has_active_sessions_and_logo_uri,
    upstream_providers_show_registration_token_required,
);

//! Compat sessions and their hashed tokens in the store.

use chrono::Duration;
use gatehouse::{
    domain::{
        Clock, MockClock,
        compat::{CompatAccessToken, CompatRefreshToken, CompatSession},
        ids::new_id,
        tokens::TokenType,
        users::User,
    },
    store::{SessionActivity, compat::token_digest},
};
use rand::SeedableRng;
use sqlx::Row;

use crate::{common::TestDb, on_both_backends};

async fn tokens_resolve_by_digest_and_are_not_stored_in_clear(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let user = User {
        id: new_id(&clock),
        username: "frank".into(),
        created_at: clock.now(),
        locked_at: None,
        deactivated_at: None,
        can_request_admin: true,
        is_guest: false,
    };
    let mut session = CompatSession {
        id: new_id(&clock),
        user_id: user.id,
        device_id: Some("ABCDEFGHIJ".into()),
        human_name: Some("Frank's phone".into()),
        created_at: clock.now(),
        finished_at: None,
        is_synapse_admin: true,
        last_active_at: None,
        last_active_ip: None,
        user_agent: Some("test".into()),
        redirect_uri: None,
    };
    let access_string = TokenType::CompatAccessToken.generate(&mut rng);
    let refresh_string = TokenType::CompatRefreshToken.generate(&mut rng);
    let access = CompatAccessToken {
        id: new_id(&clock),
        session_id: session.id,
        created_at: clock.now(),
        expires_at: Some(clock.now() + Duration::minutes(5)),
        first_used_at: None,
    };
    let refresh = CompatRefreshToken {
        id: new_id(&clock),
        session_id: session.id,
        access_token_id: access.id,
        created_at: clock.now(),
        consumed_at: None,
        next_id: None,
    };

    let mut repo = store.repo().await.unwrap();
    repo.users().add(&user).await.unwrap();
    repo.compat().add_session(&session).await.unwrap();
    repo.compat()
        .add_access_token(&access, &access_string)
        .await
        .unwrap();
    repo.compat()
        .add_refresh_token(&refresh, &refresh_string)
        .await
        .unwrap();
    repo.save().await.unwrap();

    // Only digests are stored.
    let rows = sqlx::query("SELECT access_token_sha256 FROM compat_access_tokens")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let stored: Vec<u8> = rows[0].try_get("access_token_sha256").unwrap();
    assert_eq!(stored, token_digest(&access_string));
    assert_ne!(stored, access_string.as_bytes());

    let mut repo = store.repo().await.unwrap();
    let found = repo
        .compat()
        .find_access_token(&access_string)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.token, access);
    assert_eq!(found.session_id, session.id);
    assert_eq!(found.device_id, session.device_id);
    assert_eq!(found.is_synapse_admin, session.is_synapse_admin);
    assert_eq!(found.session_finished, session.finished_at.is_some());
    assert_eq!(found.user, user);
    assert!(
        repo.compat()
            .find_access_token("mct_unknown")
            .await
            .unwrap()
            .is_none()
    );

    // Refresh: consumed once, never twice.
    let found = repo
        .compat()
        .find_refresh_token(&refresh_string)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, refresh);
    assert!(
        repo.compat()
            .consume_refresh_token(refresh.id, ulid::Ulid::nil(), clock.now())
            .await
            .unwrap()
    );
    assert!(
        !repo
            .compat()
            .consume_refresh_token(refresh.id, ulid::Ulid::nil(), clock.now())
            .await
            .unwrap()
    );
    repo.compat()
        .expire_access_token(access.id, clock.now())
        .await
        .unwrap();
    let expired = repo
        .compat()
        .find_access_token(&access_string)
        .await
        .unwrap()
        .unwrap();
    assert!(!expired.token.is_valid(clock.now()));

    // Activity and finishing.
    clock.advance(Duration::seconds(10));
    repo.compat()
        .record_activities(&[SessionActivity {
            session_id: session.id,
            at: clock.now(),
            ip: Some("127.0.0.1"),
        }])
        .await
        .unwrap();
    let active = repo.compat().active_sessions(user.id).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].last_active_ip.as_deref(), Some("127.0.0.1"));
    repo.compat()
        .finish_session(&mut session, clock.now())
        .await
        .unwrap();
    assert!(
        repo.compat()
            .active_sessions(user.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repo.compat()
            .finish_all_sessions(user.id, clock.now())
            .await
            .unwrap(),
        0
    );
    repo.save().await.unwrap();
}

/// The activity recorder's flush writes many sessions per statement: each gets its own time,
/// and its own address or, with none, keeps the one it had.
async fn session_activity_is_written_in_batches(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    let user = User {
        id: new_id(&clock),
        username: "hana".into(),
        created_at: clock.now(),
        locked_at: None,
        deactivated_at: None,
        can_request_admin: false,
        is_guest: false,
    };
    let mut repo = store.repo().await.unwrap();
    repo.users().add(&user).await.unwrap();
    // More than one batch (250), and not a multiple of it.
    let mut sessions = Vec::new();
    for i in 0..601 {
        let session = CompatSession {
            id: new_id(&clock),
            user_id: user.id,
            device_id: Some(format!("DEVICE{i:04}")),
            human_name: None,
            created_at: clock.now(),
            finished_at: None,
            is_synapse_admin: false,
            last_active_at: None,
            last_active_ip: Some("192.0.2.1".into()),
            user_agent: None,
            redirect_uri: None,
        };
        repo.compat().add_session(&session).await.unwrap();
        sessions.push(session.id);
    }
    let started = clock.now();
    let ips: Vec<String> = (0..sessions.len())
        .map(|i| format!("198.51.100.{}", i % 250))
        .collect();
    let activity: Vec<SessionActivity> = sessions
        .iter()
        .enumerate()
        .map(|(i, &session_id)| SessionActivity {
            session_id,
            at: started + Duration::milliseconds(i as i64),
            ip: (i % 2 == 0).then(|| ips[i].as_str()),
        })
        .collect();
    repo.compat().record_activities(&activity).await.unwrap();
    repo.save().await.unwrap();

    let mut reader = store.reader().await.unwrap();
    let stored = reader.compat().active_sessions(user.id).await.unwrap();
    assert_eq!(stored.len(), sessions.len());
    for session in stored {
        let i = sessions.iter().position(|&id| id == session.id).unwrap();
        assert_eq!(
            session.last_active_at,
            Some(started + Duration::milliseconds(i as i64)),
            "session {i}"
        );
        let ip = if i % 2 == 0 {
            ips[i].as_str()
        } else {
            "192.0.2.1"
        };
        assert_eq!(session.last_active_ip.as_deref(), Some(ip), "session {i}");
    }
}

on_both_backends!(
    session_activity_is_written_in_batches,
    tokens_resolve_by_digest_and_are_not_stored_in_clear,
    token_invalidations_reach_other_handles_once,
    tokens_resolve_in_batches,
    concurrent_cache_misses_each_get_their_own_answer,
);

/// Invalidations committed through one store handle are learned by another (as by another
/// process) exactly once, and never by the handle that committed them.
async fn token_invalidations_reach_other_handles_once(db: TestDb) {
    let here = db.store().await;
    let elsewhere = db.store().await;
    let clock = MockClock::default();
    let user = User {
        id: new_id(&clock),
        username: "gwen".into(),
        created_at: clock.now(),
        locked_at: None,
        deactivated_at: None,
        can_request_admin: false,
        is_guest: false,
    };
    let mut repo = here.repo().await.unwrap();
    repo.users().add(&user).await.unwrap();
    repo.save().await.unwrap();
    // The first catch-up only takes note of what is there.
    assert_eq!(elsewhere.follow_token_invalidations().await.unwrap(), 0);
    assert_eq!(here.follow_token_invalidations().await.unwrap(), 0);

    let before = std::time::Instant::now();
    let generation = here.token_invalidations().generation();
    let mut locked = user.clone();
    let mut repo = here.repo().await.unwrap();
    repo.users().lock(&mut locked, clock.now()).await.unwrap();
    repo.save().await.unwrap();
    // Learned at once where it was committed, and not again by catching up.
    assert!(here.token_invalidations().generation() > generation);
    assert!(
        here.token_invalidations()
            .invalidated_since(&[user.id], before)
    );
    assert_eq!(here.follow_token_invalidations().await.unwrap(), 0);

    assert!(
        !elsewhere
            .token_invalidations()
            .invalidated_since(&[user.id], before)
    );
    assert_eq!(elsewhere.follow_token_invalidations().await.unwrap(), 1);
    assert!(
        elsewhere
            .token_invalidations()
            .invalidated_since(&[user.id], before)
    );
    assert_eq!(elsewhere.follow_token_invalidations().await.unwrap(), 0);
    // Other ids are untouched; and what was learned can be forgotten once no answer predates it.
    assert!(
        !elsewhere
            .token_invalidations()
            .invalidated_since(&[new_id(&clock)], before)
    );
    elsewhere
        .token_invalidations()
        .forget_before(std::time::Instant::now());
    assert!(
        !elsewhere
            .token_invalidations()
            .invalidated_since(&[user.id], before)
    );
    // Fresh rows survive pruning.
    assert_eq!(here.prune_token_invalidations().await.unwrap(), 0);
}

/// `count` users, each with one compat session (device `DEV{i}`) and one access token. User 3
/// is locked and session 5 finished, so their tokens exist but are not active.
async fn seed_token_owners(
    store: &gatehouse::store::Store,
    clock: &MockClock,
    count: usize,
) -> Vec<String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut repo = store.repo().await.unwrap();
    let mut tokens = Vec::new();
    for i in 0..count {
        let user = User {
            id: new_id(clock),
            username: format!("owner{i}"),
            created_at: clock.now(),
            locked_at: (i == 3).then(|| clock.now()),
            deactivated_at: None,
            can_request_admin: true,
            is_guest: false,
        };
        let session = CompatSession {
            id: new_id(clock),
            user_id: user.id,
            device_id: Some(format!("DEV{i}")),
            human_name: None,
            created_at: clock.now(),
            finished_at: (i == 5).then(|| clock.now()),
            is_synapse_admin: i % 2 == 0,
            last_active_at: None,
            last_active_ip: None,
            user_agent: None,
            redirect_uri: None,
        };
        let token = TokenType::CompatAccessToken.generate(&mut rng);
        let access = CompatAccessToken {
            id: new_id(clock),
            session_id: session.id,
            created_at: clock.now(),
            expires_at: None,
            first_used_at: None,
        };
        repo.users().add(&user).await.unwrap();
        repo.compat().add_session(&session).await.unwrap();
        repo.compat()
            .add_access_token(&access, &token)
            .await
            .unwrap();
        tokens.push(token);
    }
    repo.save().await.unwrap();
    tokens
}

/// One statement resolves several digests: each known token comes back once with its own
/// digest, whatever the order, repeats or unknown digests among them.
async fn tokens_resolve_in_batches(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    let tokens = seed_token_owners(&store, &clock, 20).await;
    let digest = |token: &str| gatehouse::crypto::sha256(token);
    let unknown = digest("mct_not_a_token_we_issued");
    let asked = [
        digest(&tokens[7]),
        unknown,
        digest(&tokens[2]),
        digest(&tokens[7]),
        digest(&tokens[19]),
    ];
    let mut reader = store.reader().await.unwrap();
    let found = reader.compat().find_access_tokens(&asked).await.unwrap();
    let mut names: Vec<(usize, String)> = found
        .iter()
        .map(|(d, lookup)| {
            let at = asked.iter().position(|a| a == d).unwrap();
            (at, lookup.user.username.clone())
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            (0, "owner7".to_owned()),
            (2, "owner2".to_owned()),
            (4, "owner19".to_owned())
        ]
    );
    for (d, lookup) in &found {
        let i: usize = lookup.user.username["owner".len()..].parse().unwrap();
        assert_eq!(*d, digest(&tokens[i]));
        assert_eq!(
            lookup.device_id.as_deref(),
            Some(format!("DEV{i}").as_str())
        );
    }
    let all: Vec<[u8; 32]> = tokens[..gatehouse::store::compat::LOOKUP_BATCH]
        .iter()
        .map(|t| digest(t))
        .collect();
    assert_eq!(
        reader
            .compat()
            .find_access_tokens(&all)
            .await
            .unwrap()
            .len(),
        all.len()
    );
    assert!(
        reader
            .compat()
            .find_access_tokens(&[])
            .await
            .unwrap()
            .is_empty()
    );
}

/// Many introspection-style lookups missing the cache at once are answered in shared
/// statements; each request still gets the answer for its own token: the right user and
/// device, inactive for the locked user's, the finished session's and unknown tokens.
async fn concurrent_cache_misses_each_get_their_own_answer(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    let tokens = seed_token_owners(&store, &clock, 60).await;
    // TTL 0: nothing is cached, every request is a miss.
    let cache = std::sync::Arc::new(gatehouse::services::access::TokenCache::new(
        std::time::Duration::ZERO,
    ));
    let mut asked: Vec<Option<usize>> = (0..tokens.len()).map(Some).collect();
    asked.extend((0..tokens.len()).map(Some));
    asked.extend((0..40).map(|_| None));
    let requests: Vec<_> = asked
        .iter()
        .enumerate()
        .map(|(n, which)| {
            let cache = cache.clone();
            let store = store.clone();
            let token = match which {
                Some(i) => tokens[*i].clone(),
                None => TokenType::CompatAccessToken
                    .generate(&mut rand::rngs::StdRng::seed_from_u64(1000 + n as u64)),
            };
            let now = clock.now();
            tokio::spawn(async move { cache.resolve(&store, &token, now).await })
        })
        .collect();
    for (which, request) in asked.iter().zip(requests) {
        let answer = request.await.unwrap().unwrap();
        match which {
            Some(3) | Some(5) | None => assert!(answer.is_none(), "{which:?} must be inactive"),
            Some(i) => {
                let active = &answer.expect("an active token").token;
                assert_eq!(
                    active.user.as_ref().expect("a user").username,
                    format!("owner{i}")
                );
                assert_eq!(
                    active.device_id.as_deref(),
                    Some(format!("DEV{i}").as_str())
                );
                assert_eq!(
                    active.has_scope(gatehouse::domain::scopes::SYNAPSE_ADMIN),
                    i % 2 == 0
                );
            }
        }
    }
}

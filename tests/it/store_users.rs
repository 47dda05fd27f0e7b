//! Users, passwords, emails and registration tokens in the store.

use chrono::Duration;
use gatehouse::{
    domain::{
        Clock, MockClock, emails::UserEmail, ids::new_id, registration_tokens::RegistrationToken,
        users::User,
    },
    store::{StoreError, emails::UnsupportedThreepid, passwords::UserPassword},
};

use crate::{common::TestDb, on_both_backends};

fn new_user(clock: &MockClock, username: &str) -> User {
    User {
        id: new_id(clock),
        username: username.to_owned(),
        created_at: clock.now(),
        locked_at: None,
        deactivated_at: None,
        can_request_admin: false,
        is_guest: false,
    }
}

async fn users_round_trip_and_state_changes(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    let mut alice = new_user(&clock, "alice");

    let mut repo = store.repo().await.unwrap();
    repo.users().add(&alice).await.unwrap();
    repo.save().await.unwrap();

    let mut repo = store.repo().await.unwrap();
    let found = repo.users().find_by_username("alice").await.unwrap();
    assert_eq!(found.as_ref(), Some(&alice));
    assert_eq!(
        repo.users().find_by_id(alice.id).await.unwrap().as_ref(),
        Some(&alice)
    );
    assert_eq!(repo.users().find_by_username("bob").await.unwrap(), None);

    clock.advance(Duration::minutes(5));
    repo.users().lock(&mut alice, clock.now()).await.unwrap();
    repo.users()
        .set_can_request_admin(&mut alice, true)
        .await
        .unwrap();
    repo.save().await.unwrap();

    let mut reader = store.reader().await.unwrap();
    let stored = reader.users().find_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.locked_at, Some(clock.now()));
    assert!(stored.can_request_admin);
    assert!(!stored.is_active());
    assert_eq!(
        reader.users().list_admins().await.unwrap(),
        vec![stored.clone()]
    );
    assert_eq!(reader.users().count().await.unwrap(), 1);
    drop(reader);

    let mut repo = store.repo().await.unwrap();
    repo.users().unlock(&mut alice).await.unwrap();
    repo.users()
        .deactivate(&mut alice, clock.now())
        .await
        .unwrap();
    repo.save().await.unwrap();
    let mut repo = store.repo().await.unwrap();
    let stored = repo.users().find_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.locked_at, None);
    assert_eq!(stored.deactivated_at, Some(clock.now()));
    repo.users().reactivate(&mut alice).await.unwrap();
    assert!(
        repo.users()
            .find_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .is_active()
    );
}

async fn duplicate_username_is_a_conflict_and_rolls_back(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    let mut repo = store.repo().await.unwrap();
    repo.users().add(&new_user(&clock, "bob")).await.unwrap();
    repo.save().await.unwrap();

    let mut repo = store.repo().await.unwrap();
    let err = repo
        .users()
        .add(&new_user(&clock, "bob"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("username")), "{err}");
    drop(repo); // rolled back

    // An unsaved repo leaves nothing behind.
    let mut repo = store.repo().await.unwrap();
    repo.users().add(&new_user(&clock, "carol")).await.unwrap();
    drop(repo);
    let mut reader = store.reader().await.unwrap();
    assert_eq!(
        reader.users().find_by_username("carol").await.unwrap(),
        None
    );
    assert_eq!(reader.users().count().await.unwrap(), 1);
}

async fn newest_password_is_active_even_at_the_same_instant(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    let user = new_user(&clock, "dave");
    let mut repo = store.repo().await.unwrap();
    repo.users().add(&user).await.unwrap();
    assert_eq!(repo.passwords().active(user.id).await.unwrap(), None);
    let v1 = UserPassword {
        id: new_id(&clock),
        user_id: user.id,
        hashed_password: "$2b$04$hash".into(),
        version: 1,
        upgraded_from_id: None,
        created_at: clock.now(),
    };
    repo.passwords().add(&v1).await.unwrap();
    let v2 = UserPassword {
        id: new_id(&clock),
        hashed_password: "$argon2id$hash".into(),
        version: 2,
        upgraded_from_id: Some(v1.id),
        ..v1.clone()
    };
    repo.passwords().add(&v2).await.unwrap();
    repo.save().await.unwrap();
    let mut reader = store.reader().await.unwrap();
    assert_eq!(reader.passwords().active(user.id).await.unwrap(), Some(v2));
}

async fn emails_and_unsupported_threepids(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    let user = new_user(&clock, "erin");
    let mut repo = store.repo().await.unwrap();
    repo.users().add(&user).await.unwrap();
    let email = UserEmail {
        id: new_id(&clock),
        user_id: user.id,
        email: "Erin@Example.org".into(),
        created_at: clock.now(),
    };
    repo.emails().add(&email).await.unwrap();
    let again = UserEmail {
        id: new_id(&clock),
        email: "erin@example.ORG".into(),
        ..email.clone()
    };
    assert!(matches!(
        repo.emails().add(&again).await,
        Err(StoreError::Conflict(_))
    ));
    repo.save().await.unwrap();

    let mut repo = store.repo().await.unwrap();
    assert_eq!(
        repo.emails().list_for_user(user.id).await.unwrap(),
        vec![email.clone()]
    );
    assert_eq!(
        repo.emails()
            .find_by_address("ERIN@example.org")
            .await
            .unwrap(),
        vec![email.clone()]
    );
    let phone = UnsupportedThreepid {
        user_id: user.id,
        medium: "msisdn".into(),
        address: "447700900123".into(),
        created_at: clock.now(),
    };
    repo.emails()
        .add_unsupported_threepid(&phone)
        .await
        .unwrap();
    assert_eq!(
        repo.emails()
            .list_unsupported_threepids(user.id)
            .await
            .unwrap(),
        vec![phone]
    );
    assert!(repo.emails().remove(email.id).await.unwrap());
    assert!(
        repo.emails()
            .list_for_user(user.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn registration_tokens_count_uses(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    let mut token = RegistrationToken {
        id: new_id(&clock),
        token: "invite-123".into(),
        usage_limit: Some(2),
        times_used: 0,
        created_at: clock.now(),
        last_used_at: None,
        expires_at: Some(clock.now() + Duration::hours(1)),
        revoked_at: None,
    };
    let mut repo = store.repo().await.unwrap();
    repo.registration_tokens().add(&token).await.unwrap();
    assert!(matches!(
        repo.registration_tokens()
            .add(&RegistrationToken {
                id: new_id(&clock),
                ..token.clone()
            })
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        repo.registration_tokens()
            .use_token(&mut token, clock.now())
            .await
            .unwrap()
    );
    assert!(
        repo.registration_tokens()
            .use_token(&mut token, clock.now())
            .await
            .unwrap()
    );
    assert!(
        !repo
            .registration_tokens()
            .use_token(&mut token, clock.now())
            .await
            .unwrap()
    );
    let stored = repo
        .registration_tokens()
        .find_by_token("invite-123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.times_used, 2);
    assert_eq!(stored, token);
}

async fn migrations_are_idempotent(db: TestDb) {
    let store = db.store().await;
    assert!(store.pending_migrations().await.unwrap().is_empty());
    store.migrate().await.unwrap();
    assert_eq!(store.backend(), db.backend);
}

on_both_backends!(
    users_round_trip_and_state_changes,
    duplicate_username_is_a_conflict_and_rolls_back,
    newest_password_is_active_even_at_the_same_instant,
    emails_and_unsupported_threepids,
    registration_tokens_count_uses,
    migrations_are_idempotent,
);

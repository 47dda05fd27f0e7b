//! A password hashed under an older scheme (bcrypt, as Synapse made it) verifies and is
//! transparently rehashed with the current scheme (argon2id) on the next successful login.

use gatehouse::{
    crypto::passwords::{PasswordAlgorithm, PasswordHasher, PasswordScheme},
    domain::MockClock,
    services::accounts::{self, Registration},
};

use crate::{common::TestDb, on_both_backends};

fn bcrypt_v1() -> PasswordScheme {
    PasswordScheme {
        version: 1,
        algorithm: PasswordAlgorithm::Bcrypt { cost: 4 },
        pepper: Some(b"pepper".to_vec()),
        unicode_normalization: true,
    }
}

fn argon2id_v2() -> PasswordScheme {
    PasswordScheme {
        version: 2,
        algorithm: PasswordAlgorithm::Argon2id,
        pepper: None,
        unicode_normalization: false,
    }
}

async fn bcrypt_v1_password_is_upgraded_to_argon2id_v2_on_login(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    // The user got their password while only the bcrypt scheme existed (as after syn2mas).
    let old = PasswordHasher::new(vec![bcrypt_v1()], 0).unwrap();
    let user = accounts::register_user(
        &store,
        &clock,
        &old,
        Registration {
            username: "migrated".into(),
            password: Some("pässwörd-ﬁx-Ⅳ".into()),
            ..Registration::default()
        },
    )
    .await
    .unwrap();
    let before = store
        .reader()
        .await
        .unwrap()
        .passwords()
        .active(user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.version, 1);
    assert!(before.hashed_password.starts_with("$2b$04$"));

    // Now the config has v1 bcrypt and v2 argon2id.
    let current = PasswordHasher::new(vec![bcrypt_v1(), argon2id_v2()], 0).unwrap();
    let wrong =
        gatehouse::services::sign_in::verify_password(&store, &clock, &current, &user, "wrong")
            .await;
    assert!(matches!(
        wrong,
        Err(gatehouse::services::sign_in::VerifyError::Wrong { .. })
    ));
    assert_eq!(
        store
            .reader()
            .await
            .unwrap()
            .passwords()
            .active(user.id)
            .await
            .unwrap(),
        Some(before.clone())
    );

    // NFKC: the compatibility form of the password is the same password.
    gatehouse::services::sign_in::verify_password(
        &store,
        &clock,
        &current,
        &user,
        "pässwörd-fix-IV",
    )
    .await
    .unwrap();
    let after = store
        .reader()
        .await
        .unwrap()
        .passwords()
        .active(user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.version, 2);
    assert!(after.hashed_password.starts_with("$argon2id$"));
    assert_eq!(after.upgraded_from_id, Some(before.id));

    // The next login verifies under v2 and writes nothing new. (v2 has no NFKC step, so the
    // password is now the form the user typed when it was upgraded, as in MAS.)
    gatehouse::services::sign_in::verify_password(
        &store,
        &clock,
        &current,
        &user,
        "pässwörd-fix-IV",
    )
    .await
    .unwrap();
    let again = store
        .reader()
        .await
        .unwrap()
        .passwords()
        .active(user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, after);
}

async fn user_without_password_cannot_log_in(db: TestDb) {
    let store = db.store().await;
    let clock = MockClock::default();
    let hasher = PasswordHasher::new(vec![argon2id_v2()], 0).unwrap();
    let user = accounts::register_user(
        &store,
        &clock,
        &hasher,
        Registration {
            username: "sso-only".into(),
            ..Registration::default()
        },
    )
    .await
    .unwrap();
    let result =
        gatehouse::services::sign_in::verify_password(&store, &clock, &hasher, &user, "anything")
            .await;
    assert!(matches!(
        result,
        Err(gatehouse::services::sign_in::VerifyError::NoPassword)
    ));
}

on_both_backends!(
    bcrypt_v1_password_is_upgraded_to_argon2id_v2_on_login,
    user_without_password_cannot_log_in
);

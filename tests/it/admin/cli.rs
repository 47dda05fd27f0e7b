//! `gatehouse manage issue-personal-token`: prints an `mpt_` token the admin API accepts.

use gatehouse::{
    domain::{Clock, SystemClock, scopes::MAS_ADMIN},
    services::access::resolve_access_token,
};

use crate::{cli::GatehouseCli, common::TestDb, on_both_backends};

async fn issue_personal_token_prints_an_admin_token(db: TestDb) {
    let cli = GatehouseCli::new(&db);
    cli.ok(&["manage", "register-user", "root", "-a", "-y"]);
    cli.ok(&["manage", "register-user", "alice", "-y"]);
    let token = cli.ok(&[
        "manage",
        "issue-personal-token",
        "root",
        "--scope",
        MAS_ADMIN,
        "--scope",
        "urn:matrix:client:api:*",
        "--expires-in",
        "3600",
        "--name",
        "scripts",
    ]);
    let token = token.trim();
    assert!(token.starts_with("mpt_"), "{token}");

    let store = db.store().await;
    let mut reader = store.reader().await.unwrap();
    let active = resolve_access_token(&mut reader, token, SystemClock.now())
        .await
        .unwrap()
        .expect("the token is active");
    assert_eq!(active.user.as_ref().expect("a user").username, "root");
    assert!(active.has_scope(MAS_ADMIN));
    assert!(active.expires_at.is_some());

    let stderr = cli.fails(&[
        "manage",
        "issue-personal-token",
        "alice",
        "--scope",
        MAS_ADMIN,
    ]);
    assert!(stderr.contains("may not request admin scopes"), "{stderr}");
    let stderr = cli.fails(&[
        "manage",
        "issue-personal-token",
        "nobody",
        "--scope",
        MAS_ADMIN,
    ]);
    assert!(stderr.contains("no user named"), "{stderr}");
    let stderr = cli.fails(&[
        "manage",
        "issue-personal-token",
        "root",
        "--scope",
        "bad scope",
    ]);
    assert!(stderr.contains("invalid scope"), "{stderr}");
    cli.fails(&["manage", "issue-personal-token", "root"]);
}

on_both_backends!(issue_personal_token_prints_an_admin_token);

//! `GET /users/export.csv`, `POST /users/import`, and `manage export-users` / `import-users`.

use gatehouse::services::accounts::{self, Registration};
use poem::http::Method;
use serde_json::Value;

use super::Admin;
use crate::{cli::GatehouseCli, common::TestDb, on_both_backends};

async fn csv_export_import_round_trip(db: TestDb) {
    let admin = Admin::new(db).await;
    accounts::register_user(
        admin.store(),
        &admin.clock,
        &admin.state.passwords,
        Registration {
            username: "alice".to_owned(),
            password: Some("alice password 1".to_owned()),
            emails: vec!["alice@example.org".to_owned(), "a@example.net".to_owned()],
            ..Registration::default()
        },
    )
    .await
    .unwrap();
    admin.register("bob", false).await;

    let (status, content_type, csv) = admin
        .call_raw(Method::GET, "/api/admin/v1/users/export.csv", None, "")
        .await;
    assert_eq!(status, 200, "{csv}");
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "username,created_at,admin,locked,deactivated,guest,emails,password_hash,password_version"
    );
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[1].starts_with("root,"), "{csv}");
    assert!(lines[1].contains(",true,false,false,false,,,"), "{csv}");
    let alice = lines.iter().find(|l| l.starts_with("alice,")).unwrap();
    assert!(alice.contains("alice@example.org;a@example.net"), "{alice}");
    assert!(alice.ends_with(",1"), "{alice}");

    // Import the export under new names: the hashes carry over, so the passwords still work.
    let renamed = csv
        .replace("root,", "root2,")
        .replace("alice,", "alice2,")
        .replace("bob,", "bob2,")
        .replace("@example", "@copy.example");
    let (status, _, report) = admin
        .call_raw(
            Method::POST,
            "/api/admin/v1/users/import",
            Some("text/csv"),
            &renamed,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["created"], 3, "{report}");
    assert_eq!(report["rows"][1]["row"], 2);
    assert_eq!(report["rows"][1]["username"], "alice2");
    assert_eq!(report["rows"][1]["status"], "created");
    let mut reader = admin.store().reader().await.unwrap();
    let alice2 = reader
        .users()
        .find_by_username("alice2")
        .await
        .unwrap()
        .unwrap();
    let root2 = reader
        .users()
        .find_by_username("root2")
        .await
        .unwrap()
        .unwrap();
    assert!(root2.can_request_admin);
    assert_eq!(
        reader
            .emails()
            .list_for_user(alice2.id)
            .await
            .unwrap()
            .len(),
        2
    );
    drop(reader);
    gatehouse::services::sign_in::verify_password(
        admin.store(),
        &admin.clock,
        &admin.state.passwords,
        &alice2,
        "alice password 1",
    )
    .await
    .expect("the imported hash verifies");

    // Again: all skipped. Then a mix of good and bad rows.
    let (_, _, report) = admin
        .call_raw(
            Method::POST,
            "/api/admin/v1/users/import",
            Some("text/csv"),
            &renamed,
        )
        .await;
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["skipped"], 3, "{report}");
    assert_eq!(report["rows"][0]["status"], "skipped");
    let mixed = "emails,username,password,admin\n\
                 carol@example.org,carol,carol password 1,yes\n\
                 ,Not Valid,,\n\
                 ,dave,,maybe\n\
                 alice@example.org;bad,erin,,\n\
                 ,frank,,\n";
    let (status, _, report) = admin
        .call_raw(
            Method::POST,
            "/api/admin/v1/users/import",
            Some("text/csv; charset=utf-8"),
            mixed,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let report: Value = serde_json::from_str(&report).unwrap();
    let statuses: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["created", "error", "error", "error", "created"],
        "{report}"
    );
    assert!(
        report["rows"][2]["reason"]
            .as_str()
            .unwrap()
            .contains("admin")
    );
    let carol = admin
        .store()
        .reader()
        .await
        .unwrap()
        .users()
        .find_by_username("carol")
        .await
        .unwrap()
        .unwrap();
    assert!(carol.can_request_admin);

    let hash_without_version = "username,password_hash\ngrace,$2b$04$abc\n";
    let (_, _, report) = admin
        .call_raw(
            Method::POST,
            "/api/admin/v1/users/import",
            Some("text/csv"),
            hash_without_version,
        )
        .await;
    assert!(report.contains("\"error\""), "{report}");

    // The whole request fails without a username column or with another content type.
    let (status, _, body) = admin
        .call_raw(
            Method::POST,
            "/api/admin/v1/users/import",
            Some("text/csv"),
            "name,password\nx,y\n",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("username"), "{body}");
    let (status, _, _) = admin
        .call_raw(
            Method::POST,
            "/api/admin/v1/users/import",
            Some("application/json"),
            "{}",
        )
        .await;
    assert!(status == 415 || status == 400, "{status}");
}

async fn manage_export_and_import_users(db: TestDb) {
    let cli = GatehouseCli::new(&db);
    cli.ok(&["manage", "register-user", "root", "-a", "-y"]);
    cli.ok(&[
        "manage",
        "register-user",
        "alice",
        "-y",
        "-e",
        "alice@example.org",
    ]);
    let csv = cli.ok(&["manage", "export-users"]);
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let output = cli.run(&["manage", "export-users", "-o", "users.csv"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("exported 2 user(s)"), "{stderr}");
    let written = std::fs::read_to_string(cli.dir.path().join("users.csv")).unwrap();
    assert_eq!(written, csv);

    std::fs::write(
        cli.dir.path().join("new.csv"),
        "username,emails,admin\nzoe,zoe@example.org,false\nyann,,true\n",
    )
    .unwrap();
    let output = cli.run(&["manage", "import-users", "new.csv"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 created, 0 skipped, 0 failed"),
        "{stderr}"
    );

    std::fs::write(
        cli.dir.path().join("bad.csv"),
        "username\nzoe\nBad Name\nxavier\n",
    )
    .unwrap();
    let stderr = cli.fails(&["manage", "import-users", "bad.csv"]);
    assert!(stderr.contains("row 2 (Bad Name)"), "{stderr}");
    assert!(
        stderr.contains("1 created, 1 skipped, 1 failed"),
        "{stderr}"
    );
    let csv = cli.ok(&["manage", "export-users"]);
    assert_eq!(csv.lines().count(), 6, "{csv}");
    cli.fails(&["manage", "import-users", "missing.csv"]);
}

on_both_backends!(csv_export_import_round_trip, manage_export_and_import_users);

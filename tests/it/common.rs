//! Test databases on both backends.
//!
//! SQLite: a fresh file in a temporary directory. PostgreSQL: a fresh database created on the
//! server named by `GATEHOUSE_TEST_POSTGRES_URL` (`scripts/test` starts a throwaway one). When
//! that variable is missing the PostgreSQL half of a test fails, unless
//! `GATEHOUSE_TEST_SKIP_POSTGRES=1` is set outside CI; under `CI=true` skipping is refused.

#![allow(dead_code)]

use gatehouse::store::{Backend, PoolSettings, Store};
use sqlx::{AnyConnection, Connection};
use tempfile::TempDir;

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<TempDir>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("gatehouse.db").display()
        );
        TestDb {
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
        }
    }

    /// A fresh, empty PostgreSQL database, or `None` when PostgreSQL tests are explicitly skipped.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("GATEHOUSE_TEST_POSTGRES_URL") else {
            let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
            let skip = std::env::var("GATEHOUSE_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1");
            if skip && !in_ci {
                eprintln!("skipping the PostgreSQL half: GATEHOUSE_TEST_SKIP_POSTGRES=1");
                return None;
            }
            panic!(
                "GATEHOUSE_TEST_POSTGRES_URL is not set. Run the suite with scripts/test (it starts a \
                 throwaway PostgreSQL), or set the variable to a server where the user may CREATE DATABASE."
            );
        };
        sqlx::any::install_default_drivers();
        let name = format!(
            "gatehouse_test_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let mut admin = AnyConnection::connect(&admin_url)
            .await
            .expect("connect to GATEHOUSE_TEST_POSTGRES_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("GATEHOUSE_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        Some(TestDb {
            url: url.to_string(),
            backend: Backend::Postgres,
            _dir: None,
        })
    }

    /// The `database.uri` a config file would use for this database.
    pub fn config_uri(&self) -> String {
        self.url.trim_end_matches("?mode=rwc").to_owned()
    }

    /// A migrated store over this database.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, &PoolSettings::default())
            .await
            .expect("connect to test database");
        store.migrate().await.expect("migrate test database");
        store
    }
}

/// Declare tests that run on both backends: each `async fn name(db: TestDb)` in scope becomes
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::TestDb::sqlite()).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(db) = $crate::common::TestDb::postgres().await {
                        super::$name(db).await;
                    }
                }
            }
        )*
    };
}

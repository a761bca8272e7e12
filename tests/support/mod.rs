//! Test databases for both backends: a fresh SQLite file, or a fresh PostgreSQL database
//! created for one test and dropped after it.
//!
//! PostgreSQL is found at `TESSERA_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it cannot be reached the PostgreSQL
//! variants skip with a message, except under CI ([`must_run_everything`]), where they fail.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use sqlx::Connection as _;

pub mod server;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    dir: tempfile::TempDir,
    pg_name: Option<String>,
}

pub fn admin_url() -> String {
    std::env::var("TESSERA_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn with_database(url: &str, name: &str) -> String {
    let mut u = url::Url::parse(url).expect("TESSERA_TEST_POSTGRES_URL is a URL");
    u.set_path(&format!("/{name}"));
    u.to_string()
}

/// Whether every suite must run rather than skip: `CI` is set to anything but empty, `0`,
/// `false` or `no` (in any case). `CI=true`, `CI=1` and `CI=True` all count.
pub fn must_run_everything() -> bool {
    ci_means_must_run(std::env::var("CI").ok().as_deref())
}

fn ci_means_must_run(ci: Option<&str>) -> bool {
    match ci.map(str::trim) {
        None => false,
        Some(v) => !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("no")),
    }
}

#[test]
fn any_ci_value_but_off_means_must_run() {
    for on in ["true", "1", "True", "TRUE", "yes", "github"] {
        assert!(ci_means_must_run(Some(on)), "{on}");
    }
    for off in [None, Some(""), Some("0"), Some("false"), Some("False"), Some("no")] {
        assert!(!ci_means_must_run(off), "{off:?}");
    }
}

/// Whether PostgreSQL answers; checked once per test binary.
async fn postgres_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    if let Some(v) = AVAILABLE.get() {
        return *v;
    }
    let ok = matches!(
        tokio::time::timeout(Duration::from_secs(3), sqlx::PgConnection::connect(&admin_url())).await,
        Ok(Ok(_))
    );
    *AVAILABLE.get_or_init(|| ok)
}

impl TestDb {
    /// A fresh database, or `None` when PostgreSQL is wanted but absent outside CI.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
                Some(TestDb { backend, url, dir, pg_name: None })
            }
            Backend::Postgres => {
                if !postgres_available().await {
                    if must_run_everything() {
                        panic!(
                            "PostgreSQL is not reachable at {} and CI is set: failing rather than skipping",
                            admin_url()
                        );
                    }
                    eprintln!(
                        "SKIPPED: PostgreSQL is not reachable at {}; start it or set TESSERA_TEST_POSTGRES_URL",
                        admin_url()
                    );
                    return None;
                }
                let name = format!("tessera_t_{}", ulid::Ulid::new().to_string().to_lowercase());
                let mut admin = sqlx::PgConnection::connect(&admin_url()).await.expect("admin connection");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
                let url = with_database(&admin_url(), &name);
                Some(TestDb { backend, url, dir, pg_name: Some(name) })
            }
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Environment a `tessera` process needs for this database.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("TESSERA_DATABASE_URL", self.url.clone())];
        if self.backend == Backend::Postgres {
            env.push(("TESSERA_KEK", test_kek()));
            // The first start's key file: beside a SQLite database by default, but a
            // PostgreSQL database has no beside (the default would be the working directory).
            env.push(("TESSERA_FIRST_KEY_FILE", self.dir().join("first-api-key").display().to_string()));
        }
        env
    }
}

/// A fixed key-encryption key for the processes of one test run.
pub fn test_kek() -> String {
    "dGVzc2VyYS10ZXN0LWtlay0zMi1ieXRlcy1leGFjdCE=".into()
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside any runtime: a small one of its own does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url()).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
                }
            });
        })
        .join();
    }
}

/// Runs each named `async fn(TestDb)` once per backend, as `sqlite::NAME` and `postgres::NAME`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::support::TestDb::new($crate::support::Backend::Sqlite).await.expect("sqlite");
                    super::$name(db).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::support::TestDb::new($crate::support::Backend::Postgres).await {
                        super::$name(db).await
                    }
                }
            )*
        }
    };
}

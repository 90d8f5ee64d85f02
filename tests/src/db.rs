//! A fresh database per test. `VPNSHOP_TEST_DB=postgres` runs the same tests on PostgreSQL
//! (`VPNSHOP_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`); anything else,
//! or nothing, on a SQLite file in the temp directory.
use std::path::PathBuf;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

pub struct TestDb {
    pub db: DatabaseConnection,
    /// The URL the bot under test is given.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

pub fn use_postgres() -> bool {
    std::env::var("VPNSHOP_TEST_DB").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

fn pg_admin_url() -> String {
    std::env::var("VPNSHOP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A new, migrated, empty database.
pub async fn fresh_db() -> TestDb {
    let id = uuid::Uuid::new_v4().simple().to_string();
    if use_postgres() {
        let admin_url = pg_admin_url();
        let name = format!("vpnshop_t_{}", &id[..16]);
        let admin = Database::connect(&admin_url)
            .await
            .expect("connect to PostgreSQL admin database");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin_url);
        let url = format!("{base}/{name}");
        let db = vpnshop_core::db::open(&url)
            .await
            .expect("open test database");
        TestDb {
            db,
            url,
            cleanup: Cleanup::PostgresDatabase { admin_url, name },
        }
    } else {
        let path = std::env::temp_dir().join(format!("vpnshop-test-{id}.db"));
        let url = format!("sqlite://{}", path.display());
        let db = vpnshop_core::db::open(&url)
            .await
            .expect("open test database");
        TestDb {
            db,
            url,
            cleanup: Cleanup::SqliteFile(path),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    std::fs::remove_file(p).ok();
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a separate thread may block on its own one.
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        let admin = Database::connect(&admin_url).await.ok()?;
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await
                            .ok()?;
                        admin.close().await.ok()
                    })
                })
                .join()
                .ok();
            }
        }
    }
}

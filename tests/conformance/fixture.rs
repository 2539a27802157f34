//! A fresh, migrated database per test: a new PostgreSQL database (dropped afterwards) or a SQLite
//! file in a new temporary directory (removed afterwards).

use std::path::PathBuf;

use being_social_infra::db::{Database, PoolConfig};
use diesel::SqliteConnection;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

/// Connections per test pool: the application's default.
pub const POOL_SIZE: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The PostgreSQL server the databases are created on.
fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The same server as `admin`, database `name`.
fn database_url(admin: &str, name: &str) -> String {
    match admin.rfind('/') {
        Some(slash) if slash > "postgres://".len() => format!("{}/{name}", &admin[..slash]),
        _ => format!("{admin}/{name}"),
    }
}

pub struct Fixture {
    pub db: Database,
    pub backend: Backend,
    url: String,
    name: String,
    dir: PathBuf,
}

impl Fixture {
    pub async fn new(backend: Backend) -> Self {
        let name = format!("bs_conf_{}", uuid::Uuid::new_v4().simple());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let url = match backend {
            Backend::Postgres => {
                let admin = admin_url();
                let mut conn = AsyncPgConnection::establish(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "cannot reach PostgreSQL at {admin} ({e}); set DATABASE_URL=postgres://USER@HOST:PORT/postgres"
                        )
                    });
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("CREATE DATABASE");
                database_url(&admin, &name)
            }
            Backend::Sqlite => format!("sqlite://{}", dir.join("db.sqlite").display()),
        };
        let db = Database::open(&url, PoolConfig::shared(POOL_SIZE)).expect("the pool opens");
        db.migrate().await.expect("the migrations run");
        Self {
            db,
            backend,
            url,
            name,
            dir,
        }
    }

    /// Runs `sql` on the test's database over a connection of its own, behind the adapter's back:
    /// for data too large to make through the ports in a test's time.
    pub async fn execute(&self, sql: &str) {
        match self.backend {
            Backend::Postgres => {
                let mut conn = AsyncPgConnection::establish(&self.url).await.unwrap();
                conn.batch_execute(sql).await.unwrap();
            }
            Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut conn = SyncConnectionWrapper::<SqliteConnection>::establish(path)
                    .await
                    .unwrap();
                conn.batch_execute(sql).await.unwrap();
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.backend == Backend::Postgres {
            let name = self.name.clone();
            // Drop cannot await: a short-lived runtime on its own thread drops the database.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(mut conn) = AsyncPgConnection::establish(&admin_url()).await {
                        let _ = conn
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

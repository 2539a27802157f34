//! One database per test: a new PostgreSQL database (dropped afterwards) or a SQLite file in a new
//! temporary directory (removed afterwards, with whatever else the test put there, e.g. media).

use std::path::PathBuf;

use being_social_infra::db::{Database, PoolConfig};
use diesel::sql_types::BigInt;
use diesel::{QueryableByName, SqliteConnection};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::Backend;

/// The PostgreSQL server tests create their databases on: `DATABASE_URL` when it names a
/// PostgreSQL server, else `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `postgres://user@host:port/NAME` for the same server as the admin URL.
fn database_url(admin: &str, name: &str) -> String {
    match admin.rfind('/') {
        Some(slash) if slash > "postgres://".len() => format!("{}/{name}", &admin[..slash]),
        _ => format!("{admin}/{name}"),
    }
}

/// A database made for one test and removed when the test ends. Not migrated: the application
/// migrates it when it starts, [`TestDatabase::pool`] when asked.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    name: String,
    /// A new temporary directory of the test's own (the SQLite file, media), removed on drop.
    pub dir: PathBuf,
    /// The server's maintenance database, where this one is created and dropped.
    admin: String,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        Self::create_on(backend, admin_url()).await
    }

    /// A database on the PostgreSQL server of `admin` (a URL of its maintenance database).
    pub async fn create_on(backend: Backend, admin: String) -> Self {
        let name = format!("bs_test_{}", uuid::Uuid::new_v4().simple());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let url = match backend {
            Backend::Postgres => {
                let mut conn = AsyncPgConnection::establish(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "cannot reach PostgreSQL at {admin} ({e}). Start PostgreSQL, or point the \
                         tests at one with DATABASE_URL=postgres://USER@HOST:PORT/postgres"
                    )
                });
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("CREATE DATABASE");
                database_url(&admin, &name)
            }
            Backend::Sqlite => format!("sqlite://{}", dir.join("db.sqlite").display()),
        };
        Self {
            url,
            backend,
            name,
            dir,
            admin,
        }
    }

    /// A connection pool of two to the database, for checks the API does not expose.
    pub async fn open(&self) -> Database {
        Database::open(&self.url, PoolConfig::shared(2)).expect("the pool opens")
    }

    /// A pool of `size` connections to the database, migrated.
    pub async fn pool(&self, size: usize) -> Database {
        let db = Database::open(&self.url, PoolConfig::shared(size)).expect("the pool opens");
        db.migrate().await.expect("the migrations run");
        db
    }

    /// Runs `sql` on the database over a connection of its own, behind the adapters' back: for
    /// data too large to make through the ports in a test's time.
    pub async fn execute(&self, sql: &str) {
        match self.backend {
            Backend::Postgres => {
                let mut conn = AsyncPgConnection::establish(&self.url)
                    .await
                    .expect("a connection");
                conn.batch_execute(sql).await.expect("the SQL runs");
            }
            Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut conn = SyncConnectionWrapper::<SqliteConnection>::establish(path)
                    .await
                    .expect("a connection");
                conn.batch_execute(sql).await.expect("the SQL runs");
            }
        }
    }

    /// `count` new users (the ids after `leader`'s, which must be the newest user) who follow
    /// `leader`, made behind the API (thousands of sign-ups would take minutes), counters
    /// included. PostgreSQL only.
    pub async fn add_followers(&self, leader: i64, count: i64) {
        let (first, last) = (leader + 1, leader + count);
        self.execute(&format!(
            "INSERT INTO users (id, email, email_key, full_name, password_hash, created_at) \
             SELECT i, i || '@example.com', i || '@example.com', 'u' || i, 'x', now() \
             FROM generate_series({first}, {last}) AS i; \
             INSERT INTO follows (follower_id, leader_id, created_at) \
             SELECT i, {leader}, now() - (i || ' seconds')::interval \
             FROM generate_series({first}, {last}) AS i; \
             UPDATE users SET follower_count = follower_count + {count} WHERE id = {leader}; \
             UPDATE users SET following_count = 1 WHERE id BETWEEN {first} AND {last}; \
             SELECT setval(pg_get_serial_sequence('users', 'id'), {last});"
        ))
        .await;
    }

    /// The one integer `sql` selects, as a column named `value`, read behind the adapters' back.
    pub async fn scalar(&self, sql: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            value: i64,
        }
        let query = diesel::sql_query(sql);
        let row: Row = match self.backend {
            Backend::Postgres => {
                let mut conn = AsyncPgConnection::establish(&self.url)
                    .await
                    .expect("a connection");
                query.get_result(&mut conn).await
            }
            Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut conn = SyncConnectionWrapper::<SqliteConnection>::establish(path)
                    .await
                    .expect("a connection");
                query.get_result(&mut conn).await
            }
        }
        .expect("the query answers one row");
        row.value
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.backend == Backend::Postgres {
            let name = self.name.clone();
            let admin = self.admin.clone();
            // Drop cannot await: a short-lived runtime on its own thread does the cleanup.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(mut conn) = AsyncPgConnection::establish(&admin).await {
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

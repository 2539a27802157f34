//! A fresh, migrated database per test: a new PostgreSQL database (dropped afterwards) or a SQLite
//! file in a new temporary directory (removed afterwards).

use std::path::PathBuf;

use std::ops::Deref;

use async_trait::async_trait;
use being_social_domain::Result;
use being_social_domain::model::{LikeOutcome, ListedUser, PostId, UserId};
use being_social_domain::pagination::{Page, PageRequest};
use being_social_domain::ports::{
    FollowRepository, LikeRepository, SessionRepository, StoredToken,
};
use being_social_infra::db::{Database, Follows, Likes, PoolConfig, Sessions};
use chrono::{DateTime, Utc};
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

/// The adapters as the server wires them: the database itself for accounts, posts, comments and
/// the feed (reached through `Deref`), the coalescing adapters for likes, follows and sessions.
#[derive(Clone)]
pub struct Store {
    db: Database,
    pub likes: Likes,
    pub follows: Follows,
    pub sessions: Sessions,
}

impl Store {
    pub fn new(db: Database) -> Self {
        Self {
            likes: Likes::new(db.clone()),
            follows: Follows::new(db.clone()),
            sessions: Sessions::new(db.clone()),
            db,
        }
    }

    /// The database adapter itself.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

impl Deref for Store {
    type Target = Database;
    fn deref(&self) -> &Database {
        &self.db
    }
}

#[async_trait]
impl LikeRepository for Store {
    async fn like(&self, user: UserId, post: PostId) -> Result<LikeOutcome> {
        self.likes.like(user, post).await
    }
    async fn unlike(&self, user: UserId, post: PostId) -> Result<bool> {
        self.likes.unlike(user, post).await
    }
    async fn likers(&self, post: PostId, page: PageRequest) -> Result<Page<ListedUser>> {
        self.likes.likers(post, page).await
    }
}

#[async_trait]
impl FollowRepository for Store {
    async fn follow(&self, follower: UserId, leader: UserId) -> Result<bool> {
        self.follows.follow(follower, leader).await
    }
    async fn unfollow(&self, follower: UserId, leader: UserId) -> Result<bool> {
        self.follows.unfollow(follower, leader).await
    }
    async fn followers(&self, user: UserId, page: PageRequest) -> Result<Page<ListedUser>> {
        self.follows.followers(user, page).await
    }
    async fn following(&self, user: UserId, page: PageRequest) -> Result<Page<ListedUser>> {
        self.follows.following(user, page).await
    }
}

#[async_trait]
impl SessionRepository for Store {
    async fn insert(&self, user: UserId, token_hash: Vec<u8>) -> Result<()> {
        self.sessions.insert(user, token_hash).await
    }
    async fn find(&self, token_hash: Vec<u8>) -> Result<Option<StoredToken>> {
        self.sessions.find(token_hash).await
    }
    async fn touch(
        &self,
        token_hash: Vec<u8>,
        used_at: DateTime<Utc>,
        if_before: DateTime<Utc>,
    ) -> Result<()> {
        self.sessions.touch(token_hash, used_at, if_before).await
    }
    async fn revoke(&self, token_hash: Vec<u8>) -> Result<()> {
        self.sessions.revoke(token_hash).await
    }
    async fn revoke_all(&self, user: UserId) -> Result<u64> {
        self.sessions.revoke_all(user).await
    }
    async fn delete_expired(
        &self,
        created_before: DateTime<Utc>,
        used_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64> {
        self.sessions
            .delete_expired(created_before, used_before, limit)
            .await
    }
}

pub struct Fixture {
    pub db: Store,
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
            db: Store::new(db),
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

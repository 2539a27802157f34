//! What each conformance test is given: the adapters as the server wires them, on a fresh,
//! migrated database of the test's own (see `being_social_test_support::TestDatabase`).

use std::ops::Deref;

use async_trait::async_trait;
use being_social_domain::Result;
use being_social_domain::model::{LikeOutcome, ListedUser, PostId, UserId};
use being_social_domain::pagination::{Page, PageRequest};
use being_social_domain::ports::{
    FollowRepository, LikeRepository, SessionRepository, StoredToken,
};
use being_social_infra::db::{Database, Follows, Likes, Sessions};
use being_social_test_support::{Backend, Start, TestDatabase};
use chrono::{DateTime, Utc};

/// Connections per test pool: the application's default.
pub const POOL_SIZE: usize = 8;

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

/// What a conformance test is given: the adapters on a new, migrated database of its own.
pub struct Fixture {
    pub db: Store,
    // Dropped last: the pool closes before its database goes.
    database: TestDatabase,
}

impl Start for Fixture {
    async fn start(backend: Backend) -> Self {
        let database = TestDatabase::create(backend).await;
        let db = database.pool(POOL_SIZE).await;
        Self {
            db: Store::new(db),
            database,
        }
    }
}

impl Fixture {
    /// Runs `sql` on the test's database over a connection of its own, behind the adapter's back:
    /// for data too large to make through the ports in a test's time.
    pub async fn execute(&self, sql: &str) {
        self.database.execute(sql).await;
    }

    /// An hour as added to a timestamp column in SQL on this test's backend.
    pub fn an_hour(&self) -> &'static str {
        match self.database.backend {
            Backend::Postgres => "interval '1 hour'",
            Backend::Sqlite => "3600000000",
        }
    }
}

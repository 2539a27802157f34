//! The hot paths, coalesced (see [`crate::coalesce`]):
//!
//! - Likes of one post that arrive together commit in one transaction: one
//!   `INSERT ... SELECT FROM unnest(users) ON CONFLICT DO NOTHING RETURNING` and one
//!   `likes_count = likes_count + n`.
//!   A hot post's row lock is then taken once per batch instead of once per like, which is what
//!   limited the naive transaction to about a thousand likes a second.
//! - Follows that arrive together, whoever they concern, commit in one transaction
//!   ([`Database::follow_batch`]): every user row of the batch locked in one ascending-id
//!   statement, then the edges, both counters of each and the feed copies. Hundreds of people
//!   following each other at the same instant then wait for a few commits instead of queueing on
//!   each other's row locks.
//! - Token lookups that arrive together are answered by one `hash = ANY(...)` query. Revocation
//!   stays immediate: nothing is cached, a lookup still reads the committed state.
//!
//! Each request is answered only after the commit of its batch. Several server processes may share
//! one database: their batches are ordinary transactions and queue on the same row lock.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use being_social_domain::model::{LikeOutcome, ListedUser, PostId, UserId};
use being_social_domain::pagination::{Page, PageRequest};
use being_social_domain::ports::{FollowRepository, LikeRepository, StoredToken, TokenRepository};
use being_social_domain::{DomainError, Result};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel_async::RunQueryDsl;

use super::models::UserRow;
use super::schema::{Ts, posts, tokens, users};
use super::tokens::{TokenAndOwner, stored_token};
use super::{Database, DbResult, Dialect, is_violation};
use crate::coalesce::{Coalescer, CoalescerStats};

/// The most requests one batch carries; bounds a transaction's size and a statement's binds.
pub const MAX_BATCH: usize = 512;

/// Batches of one post's likes in flight at once: one inserting while the other holds the post's
/// row lock through its commit. Two batches of a post cannot deadlock: each inserts its likes in
/// ascending user order, and only takes the post's row lock (for the counter) after inserting.
const LIKE_BATCHES_PER_POST: usize = 2;

/// Follow batches in flight at once. Batches lock their users in ascending id, so two of them
/// cannot deadlock; they only queue where they share a user. While one waits for its commit to
/// reach the disk, the others lock and insert.
const FOLLOW_BATCHES_AT_ONCE: usize = 2;

/// Token lookups in flight at once; each is one indexed read.
const TOKEN_LOOKUPS_AT_ONCE: usize = 2;

impl Database {
    /// Likes `post` for every user of the batch in one transaction; one outcome per request.
    async fn like_batch(&self, post: PostId, batch: Vec<UserId>) -> Vec<Result<LikeOutcome>> {
        let mut unique = batch.clone();
        unique.sort_unstable();
        unique.dedup();
        let result: DbResult<(HashSet<i64>, i64)> = async {
            transaction!(self, conn => {
                let inserted = conn.insert_likes(post, &unique, Ts::now()).await?;
                let added = i64::try_from(inserted.len()).unwrap_or(i64::MAX);
                let likes_count: Option<i64> = if added > 0 {
                    diesel::update(posts::table.find(post))
                        .set(posts::likes_count.eq(posts::likes_count + added))
                        .returning(posts::likes_count)
                        .get_result(conn)
                        .await
                        .optional()?
                } else {
                    posts::table
                        .find(post)
                        .select(posts::likes_count)
                        .first(conn)
                        .await
                        .optional()?
                };
                let likes_count = likes_count.ok_or(DomainError::NotFound("post"))?;
                Ok((inserted.into_iter().collect(), likes_count))
            })
        }
        .await;
        match result {
            Ok((inserted, likes_count)) => {
                // A user twice in one batch: the first request created the like, the second found it.
                let mut answered = HashSet::new();
                batch
                    .iter()
                    .map(|user| {
                        Ok(LikeOutcome {
                            created: inserted.contains(user) && answered.insert(*user),
                            likes_count,
                        })
                    })
                    .collect()
            }
            // The post, or one liker's account, is gone: settle each like alone so that only the
            // requests concerned fail.
            Err(err)
                if batch.len() > 1
                    && is_violation(&err, &DatabaseErrorKind::ForeignKeyViolation) =>
            {
                let mut outcomes = Vec::with_capacity(batch.len());
                for user in batch {
                    outcomes.push(LikeRepository::like(self, user, post).await);
                }
                outcomes
            }
            Err(err) if is_violation(&err, &DatabaseErrorKind::ForeignKeyViolation) => {
                vec![Err(DomainError::NotFound("post"))]
            }
            Err(err) => {
                let err = DomainError::from(err);
                batch.iter().map(|_| Err(err.clone())).collect()
            }
        }
    }

    /// The tokens of a batch of hashes with their owners, in one query.
    async fn find_tokens(&self, hashes: Vec<Vec<u8>>) -> Vec<Result<Option<StoredToken>>> {
        let found: DbResult<Vec<(Vec<u8>, TokenAndOwner)>> = async {
            with_conn!(self, conn => {
                DbResult::Ok(tokens::table
                    .inner_join(users::table)
                    .filter(tokens::hash.eq_any(&hashes))
                    .select((
                        tokens::hash,
                        (tokens::created_at, tokens::last_used_at, UserRow::as_select()),
                    ))
                    .load(conn)
                    .await?)
            })
        }
        .await;
        match found {
            Ok(rows) => {
                let by_hash: HashMap<Vec<u8>, TokenAndOwner> = rows.into_iter().collect();
                hashes
                    .iter()
                    .map(|hash| Ok(by_hash.get(hash).cloned().map(stored_token)))
                    .collect()
            }
            Err(err) => {
                let err = DomainError::from(err);
                hashes.iter().map(|_| Err(err.clone())).collect()
            }
        }
    }
}

fn batch_task_failed() -> DomainError {
    DomainError::Internal("a batch task ended without answering".into())
}

/// [`LikeRepository`] with likes coalesced per post; unlikes and lists go straight through.
#[derive(Clone)]
pub struct CoalescedLikes {
    db: Database,
    coalescer: Coalescer<PostId, UserId, Result<LikeOutcome>>,
}

impl CoalescedLikes {
    pub fn new(db: Database) -> Self {
        let runner = db.clone();
        let coalescer = Coalescer::new(MAX_BATCH, LIKE_BATCHES_PER_POST, move |post, users| {
            let db = runner.clone();
            async move { db.like_batch(post, users).await }
        });
        Self { db, coalescer }
    }

    pub fn stats(&self) -> &CoalescerStats {
        self.coalescer.stats()
    }
}

#[async_trait]
impl LikeRepository for CoalescedLikes {
    #[tracing::instrument(skip(self))]
    async fn like(&self, user: UserId, post: PostId) -> Result<LikeOutcome> {
        self.coalescer
            .submit(post, user)
            .await
            .unwrap_or_else(|| Err(batch_task_failed()))
    }

    async fn unlike(&self, user: UserId, post: PostId) -> Result<bool> {
        self.db.unlike(user, post).await
    }

    async fn likers(&self, post: PostId, page: PageRequest) -> Result<Page<ListedUser>> {
        self.db.likers(post, page).await
    }
}

/// [`FollowRepository`] with follows coalesced into shared transactions; unfollows and lists go
/// straight through.
#[derive(Clone)]
pub struct CoalescedFollows {
    db: Database,
    coalescer: Coalescer<(), (UserId, UserId), Result<bool>>,
}

impl CoalescedFollows {
    pub fn new(db: Database) -> Self {
        let runner = db.clone();
        let coalescer = Coalescer::new(MAX_BATCH, FOLLOW_BATCHES_AT_ONCE, move |(), edges| {
            let db = runner.clone();
            async move { db.follow_batch(edges).await }
        });
        Self { db, coalescer }
    }

    pub fn stats(&self) -> &CoalescerStats {
        self.coalescer.stats()
    }
}

#[async_trait]
impl FollowRepository for CoalescedFollows {
    #[tracing::instrument(skip(self))]
    async fn follow(&self, follower: UserId, leader: UserId) -> Result<bool> {
        self.coalescer
            .submit((), (follower, leader))
            .await
            .unwrap_or_else(|| Err(batch_task_failed()))
    }

    async fn unfollow(&self, follower: UserId, leader: UserId) -> Result<bool> {
        self.db.unfollow(follower, leader).await
    }

    async fn followers(&self, user: UserId, page: PageRequest) -> Result<Page<ListedUser>> {
        self.db.followers(user, page).await
    }

    async fn following(&self, user: UserId, page: PageRequest) -> Result<Page<ListedUser>> {
        self.db.following(user, page).await
    }
}

/// [`TokenRepository`] with lookups coalesced into one query; writes (the rare recorded uses
/// included) go straight through.
#[derive(Clone)]
pub struct CoalescedTokens {
    db: Database,
    coalescer: Coalescer<(), Vec<u8>, Result<Option<StoredToken>>>,
}

impl CoalescedTokens {
    pub fn new(db: Database) -> Self {
        let runner = db.clone();
        let coalescer = Coalescer::new(MAX_BATCH, TOKEN_LOOKUPS_AT_ONCE, move |(), hashes| {
            let db = runner.clone();
            async move { db.find_tokens(hashes).await }
        });
        Self { db, coalescer }
    }

    pub fn stats(&self) -> &CoalescerStats {
        self.coalescer.stats()
    }
}

#[async_trait]
impl TokenRepository for CoalescedTokens {
    async fn insert(&self, user: UserId, token_hash: Vec<u8>) -> Result<()> {
        self.db.insert(user, token_hash).await
    }

    #[tracing::instrument(skip_all)]
    async fn find(&self, token_hash: Vec<u8>) -> Result<Option<StoredToken>> {
        self.coalescer
            .submit((), token_hash)
            .await
            .unwrap_or_else(|| Err(batch_task_failed()))
    }

    async fn touch(
        &self,
        token_hash: Vec<u8>,
        used_at: DateTime<Utc>,
        if_before: DateTime<Utc>,
    ) -> Result<()> {
        self.db.touch(token_hash, used_at, if_before).await
    }

    async fn revoke(&self, token_hash: Vec<u8>) -> Result<()> {
        self.db.revoke(token_hash).await
    }

    async fn revoke_all(&self, user: UserId) -> Result<u64> {
        self.db.revoke_all(user).await
    }

    async fn delete_expired(
        &self,
        created_before: DateTime<Utc>,
        used_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64> {
        self.db
            .delete_expired(created_before, used_before, limit)
            .await
    }
}

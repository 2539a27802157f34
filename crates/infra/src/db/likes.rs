//! Likes. The likes of one post that arrive together commit in one transaction
//! ([`Database::like_batch`]): one `INSERT ... SELECT FROM unnest(users) ON CONFLICT DO NOTHING
//! RETURNING` and one `likes_count = likes_count + n`. A hot post's row lock is then taken once
//! per batch instead of once per like, which is what limited the naive transaction to about a
//! thousand likes a second. A like that arrives alone is a batch of one.
//!
//! Each request is answered only after the commit of its batch. Several server processes may share
//! one database: their batches are ordinary transactions and queue on the same row lock.

use std::collections::HashSet;

use async_trait::async_trait;
use being_social_domain::model::{LikeOutcome, ListedUser, PostId, UserId};
use being_social_domain::pagination::{Page, PageRequest};
use being_social_domain::ports::LikeRepository;
use being_social_domain::{DomainError, Result};
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel_async::RunQueryDsl;

use super::models::UserRow;
use super::schema::{Ts, likes, posts, users};
use super::{Database, DbResult, Dialect, is_violation, listed_page, newest_first_start};
use crate::coalesce::{Coalescer, CoalescerStats, MAX_BATCH, batch_task_failed};
use being_social_domain::Resource;

/// Batches of one post's likes in flight at once: one inserting while the other holds the post's
/// row lock through its commit. Two batches of a post cannot deadlock: each inserts its likes in
/// ascending user order, and only takes the post's row lock (for the counter) after inserting.
const LIKE_BATCHES_PER_POST: usize = 2;

/// [`LikeRepository`]: likes coalesced per post; unlikes and the likers list go straight to the
/// database.
#[derive(Clone)]
pub struct Likes {
    db: Database,
    coalescer: Coalescer<PostId, UserId, Result<LikeOutcome>>,
}

impl Likes {
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
impl LikeRepository for Likes {
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

impl Database {
    /// Likes `post` for every user of the batch in one transaction; one outcome per request.
    pub(crate) async fn like_batch(
        &self,
        post: PostId,
        batch: Vec<UserId>,
    ) -> Vec<Result<LikeOutcome>> {
        let post = post.get();
        let batch: Vec<i64> = batch.iter().map(|user| user.get()).collect();
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
                let likes_count = likes_count.ok_or(DomainError::NotFound(Resource::Post))?;
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
                    let alone =
                        Box::pin(self.like_batch(PostId::new(post), vec![UserId::new(user)])).await;
                    outcomes.extend(alone);
                }
                outcomes
            }
            Err(err) if is_violation(&err, &DatabaseErrorKind::ForeignKeyViolation) => {
                vec![Err(DomainError::NotFound(Resource::Post))]
            }
            Err(err) => {
                let err = DomainError::from(err);
                batch.iter().map(|_| Err(err.clone())).collect()
            }
        }
    }

    #[tracing::instrument(skip(self))]
    pub(crate) async fn unlike(&self, user: UserId, post: PostId) -> Result<bool> {
        let user = user.get();
        let post = post.get();
        let removed = async {
            transaction!(self, conn => {
                // Lock order: the post row before its likes. Deleting a post holds the post and
                // then deletes its likes (ON DELETE CASCADE); an unlike that deleted its like row
                // first and then waited for the post would deadlock with it.
                if conn.lock_posts(&[post], false).await?.is_empty() {
                    return Ok(false);
                }
                let deleted = diesel::delete(likes::table.find((post, user))).execute(conn).await?;
                if deleted == 1 {
                    diesel::update(posts::table.find(post))
                        .set(posts::likes_count.eq(posts::likes_count - 1))
                        .execute(conn)
                        .await?;
                }
                Ok(deleted == 1)
            })
        }
        .await?;
        Ok(removed)
    }

    #[tracing::instrument(skip(self))]
    pub(crate) async fn likers(&self, post: PostId, page: PageRequest) -> Result<Page<ListedUser>> {
        let post = post.get();
        let (at, id) = newest_first_start(page.after);
        let limit = page.fetch_limit();
        let rows: Vec<(Ts, UserRow)> = async {
            with_conn!(self, conn => {
                DbResult::Ok(newest_first_page!(
                    likes::table.inner_join(users::table).filter(likes::post_id.eq(post)),
                    likes::created_at,
                    likes::user_id,
                    (at, id),
                    limit
                )
                .select((likes::created_at, UserRow::as_select()))
                .load(conn)
                .await?)
            })
        }
        .await?;
        Ok(listed_page(rows, &page))
    }
}

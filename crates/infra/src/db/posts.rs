//! Posts, likes and the feed.
//!
//! A page of posts is one query, whatever its size: the posts joined with their authors and with
//! the viewer's like of each. The feed reads its page from the materialised `feed_entries`, which
//! creating a post fills (fan-out on write; follows and unfollows keep it in db/follows.rs).

use async_trait::async_trait;
use being_social_domain::model::{LikeOutcome, ListedUser, Post, PostId, UserId};
use being_social_domain::pagination::{Cursor, Page, PageRequest};
use being_social_domain::ports::{
    LikeRepository, NewPost, PostRepository, PostTextChanges, RemovedMedia,
};
use being_social_domain::{DomainError, Result};
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;

use super::models::{AuthorRow, NewLikeRow, NewPostRow, PostRow, PostTextChangeset, UserRow};
use super::schema::{Instant, Ts, feed_entries, follows, likes, posts, users};
use super::{Database, DbError, DbResult, Dialect, is_violation, listed_page, newest_first_start};

fn post_cursor(post: &Post) -> Cursor {
    Cursor {
        at: post.created_at,
        id: post.id,
    }
}

/// A post, its author and the viewer's like of it (`None`: not liked).
type PostWithLike = (PostRow, AuthorRow, Option<i64>);

/// Posts joined with their authors and with `$viewer`'s like of each. There is no user 0, so a
/// viewer of 0 (no one signed in) likes nothing.
macro_rules! posts_with_likes {
    ($viewer:expr) => {
        posts::table.inner_join(users::table).left_join(
            likes::table.on(likes::post_id.eq(posts::id).and(likes::user_id.eq($viewer))),
        )
    };
}

/// The columns of a [`PostWithLike`], for `posts_with_likes!`.
macro_rules! post_with_like_columns {
    () => {
        (
            PostRow::as_select(),
            AuthorRow::as_select(),
            likes::user_id.nullable(),
        )
    };
}

fn into_posts(rows: Vec<PostWithLike>) -> Vec<Post> {
    rows.into_iter()
        .map(|(post, author, like)| post.into_post(author, like.is_some()))
        .collect()
}

/// Sorts `posts` into the order of `ids`.
fn in_order_of(ids: &[i64], mut posts: Vec<Post>) -> Vec<Post> {
    let position = |id: &i64| ids.iter().position(|x| x == id).unwrap_or(usize::MAX);
    posts.sort_by_key(|p| position(&p.id));
    posts
}

impl Database {
    /// Posts by id with their authors and the viewer's likes, in the order of `ids`.
    async fn posts_by_ids(&self, ids: &[i64], viewer: Option<UserId>) -> DbResult<Vec<Post>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let viewer = viewer.unwrap_or(0);
        let rows: Vec<PostWithLike> = with_conn!(self, conn => posts_with_likes!(viewer)
            .filter(posts::id.eq_any(ids))
            .select(post_with_like_columns!())
            .load(conn)
            .await?);
        Ok(in_order_of(ids, into_posts(rows)))
    }
}

#[async_trait]
impl PostRepository for Database {
    #[tracing::instrument(skip_all, fields(author = post.author))]
    async fn create(&self, post: NewPost) -> Result<Post> {
        let now = Ts::now();
        let row = NewPostRow {
            author_id: post.author,
            image_key: &post.image_key,
            thumbnail_key: &post.thumbnail_key,
            width: post.width,
            height: post.height,
            caption: post.caption.as_str(),
            alt_text: post.alt_text.as_str(),
            created_at: now,
            updated_at: now,
        };
        let result: DbResult<(PostRow, AuthorRow)> = async {
            transaction!(self, conn => {
                let created: PostRow = diesel::insert_into(posts::table)
                    .values(&row)
                    .returning(PostRow::as_returning())
                    .get_result(conn)
                    .await?;
                let author: AuthorRow = diesel::update(users::table.find(row.author_id))
                    .set(users::post_count.eq(users::post_count + 1))
                    .returning(AuthorRow::as_returning())
                    .get_result(conn)
                    .await?;
                // Into the author's feed and every follower's, now that the author's row is
                // locked: a follow committed before this point is seen here, and a follow that
                // commits after it finds this post when it copies the author's posts.
                diesel::insert_into(feed_entries::table)
                    .values((
                        feed_entries::viewer_id.eq(created.author_id),
                        feed_entries::created_at.eq(now),
                        feed_entries::post_id.eq(created.id),
                    ))
                    .execute(conn)
                    .await?;
                diesel::insert_into(feed_entries::table)
                    .values(
                        follows::table.filter(follows::leader_id.eq(created.author_id)).select((
                            follows::follower_id,
                            now.into_sql::<Instant>(),
                            created.id.into_sql::<BigInt>(),
                        )),
                    )
                    .into_columns((
                        feed_entries::viewer_id,
                        feed_entries::created_at,
                        feed_entries::post_id,
                    ))
                    .execute(conn)
                    .await?;
                Ok((created, author))
            })
        }
        .await;
        match result {
            Ok((created, author)) => Ok(created.into_post(author, false)),
            Err(err) if is_violation(&err, &DatabaseErrorKind::ForeignKeyViolation) => {
                Err(DomainError::NotFound("user"))
            }
            Err(err) => Err(err.into()),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: PostId, viewer: Option<UserId>) -> Result<Option<Post>> {
        Ok(self.posts_by_ids(&[id], viewer).await?.pop())
    }

    #[tracing::instrument(skip(self))]
    async fn author_of(&self, id: PostId) -> Result<Option<UserId>> {
        let author = async {
            with_conn!(self, conn => {
                DbResult::Ok(posts::table.find(id).select(posts::author_id).first::<i64>(conn).await.optional()?)
            })
        }
        .await?;
        Ok(author)
    }

    #[tracing::instrument(skip(self, changes))]
    async fn update_text(
        &self,
        id: PostId,
        changes: PostTextChanges,
        viewer: UserId,
    ) -> Result<Post> {
        let changeset = PostTextChangeset {
            caption: changes.caption.map(|c| c.into_inner()),
            alt_text: changes.alt_text.map(|a| a.into_inner()),
            updated_at: Some(Ts::now()),
        };
        let updated: Option<i64> = async {
            with_conn!(self, conn => {
                DbResult::Ok(diesel::update(posts::table.find(id))
                    .set(&changeset)
                    .returning(posts::id)
                    .get_result(conn)
                    .await
                    .optional()?)
            })
        }
        .await?;
        if updated.is_none() {
            return Err(DomainError::NotFound("post"));
        }
        self.posts_by_ids(&[id], Some(viewer))
            .await?
            .pop()
            .ok_or(DomainError::NotFound("post"))
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: PostId, author: UserId) -> Result<RemovedMedia> {
        let keys = async {
            transaction!(self, conn => {
                // Users before posts: the author's row first, then the post's.
                conn.lock_users(&[author]).await?;
                let deleted: Option<(String, String)> = diesel::delete(
                    posts::table.filter(posts::id.eq(id)).filter(posts::author_id.eq(author)),
                )
                .returning((posts::image_key, posts::thumbnail_key))
                .get_result(conn)
                .await
                .optional()?;
                let Some((image, thumbnail)) = deleted else {
                    return Err(DomainError::NotFound("post").into());
                };
                diesel::update(users::table.find(author))
                    .set(users::post_count.eq(users::post_count - 1))
                    .execute(conn)
                    .await?;
                Ok(vec![image, thumbnail])
            })
        }
        .await?;
        Ok(RemovedMedia { keys })
    }

    #[tracing::instrument(skip(self))]
    async fn by_author(
        &self,
        author: UserId,
        viewer: UserId,
        page: PageRequest,
    ) -> Result<Page<Post>> {
        let (at, id) = newest_first_start(page.after);
        let limit = page.fetch_limit();
        let rows: Vec<PostWithLike> = async {
            with_conn!(self, conn => {
                DbResult::Ok(newest_first_page!(
                    posts_with_likes!(viewer).filter(posts::author_id.eq(author)),
                    posts::created_at,
                    posts::id,
                    (at, id),
                    limit
                )
                .select(post_with_like_columns!())
                .load(conn)
                .await?)
            })
        }
        .await?;
        Ok(Page::from_rows(into_posts(rows), &page, post_cursor))
    }

    #[tracing::instrument(skip(self))]
    async fn feed(&self, viewer: UserId, page: PageRequest) -> Result<Page<Post>> {
        let (at, id) = newest_first_start(page.after);
        let limit = page.fetch_limit();
        // A range of the viewer's materialised feed (see migrations/*_feed_entries), joined to
        // its posts: an index-only scan of `limit` entries, whatever the viewer follows.
        let rows: Vec<PostWithLike> = async {
            with_conn!(self, conn => {
                DbResult::Ok(newest_first_page!(
                    feed_entries::table
                        .inner_join(posts_with_likes!(viewer))
                        .filter(feed_entries::viewer_id.eq(viewer)),
                    feed_entries::created_at,
                    feed_entries::post_id,
                    (at, id),
                    limit
                )
                .select(post_with_like_columns!())
                .load(conn)
                .await?)
            })
        }
        .await?;
        Ok(Page::from_rows(into_posts(rows), &page, post_cursor))
    }
}

#[async_trait]
impl LikeRepository for Database {
    #[tracing::instrument(skip(self))]
    async fn like(&self, user: UserId, post: PostId) -> Result<LikeOutcome> {
        let result: DbResult<LikeOutcome> = async {
            transaction!(self, conn => {
                let inserted = diesel::insert_into(likes::table)
                    .values(NewLikeRow {
                        user_id: user,
                        post_id: post,
                        created_at: Ts::now(),
                    })
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                let likes_count: Option<i64> = if inserted == 1 {
                    diesel::update(posts::table.find(post))
                        .set(posts::likes_count.eq(posts::likes_count + 1))
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
                let likes_count = likes_count.ok_or(DbError::Domain(DomainError::NotFound("post")))?;
                Ok(LikeOutcome {
                    created: inserted == 1,
                    likes_count,
                })
            })
        }
        .await;
        match result {
            Err(err) if is_violation(&err, &DatabaseErrorKind::ForeignKeyViolation) => {
                Err(DomainError::NotFound("post"))
            }
            other => Ok(other?),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn unlike(&self, user: UserId, post: PostId) -> Result<bool> {
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
    async fn likers(&self, post: PostId, page: PageRequest) -> Result<Page<ListedUser>> {
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

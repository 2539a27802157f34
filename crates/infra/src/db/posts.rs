//! Posts, likes and the feed.
//!
//! A page of posts is one query, whatever its size: the posts joined with their authors and with
//! the viewer's like of each; plus one for the pictures beyond the first of all its posts, made
//! only when one of them has more than one (`posts.picture_count`). Creating a post copies it
//! into feeds (db/feed.rs).

use std::collections::HashMap;

use async_trait::async_trait;
use being_social_domain::model::{Picture, Post, PostId, UserId};
use being_social_domain::pagination::{Page, PageRequest};
use being_social_domain::ports::{NewPost, PostRepository, PostTextChanges, RemovedMedia};
use being_social_domain::{DomainError, Result};
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel_async::RunQueryDsl;

use super::feed::{Entry, FeedRows};
use super::models::{AuthorRow, NewPostRow, PostMediaRow, PostRow, PostTextChangeset};
use super::page::{PostWithLike, into_posts, post_cursor};
use super::schema::{Ts, likes, post_media, posts, users};
use super::{Database, DbResult, Dialect, is_violation, newest_first_start};
use being_social_domain::Resource;

/// Sorts `posts` into the order of `ids`.
fn in_order_of(ids: &[i64], mut posts: Vec<Post>) -> Vec<Post> {
    let position = |id: &i64| ids.iter().position(|x| x == id).unwrap_or(usize::MAX);
    posts.sort_by_key(|p| position(&p.id.get()));
    posts
}

impl Database {
    /// Posts by id with their authors and the viewer's likes, in the order of `ids`.
    async fn posts_by_ids(&self, ids: &[i64], viewer: Option<UserId>) -> DbResult<Vec<Post>> {
        let viewer = viewer.map(UserId::get);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let viewer = viewer.unwrap_or((UserId::new(0)).get());
        let rows: Vec<PostWithLike> = with_conn!(self, conn => posts_with_likes!(viewer)
            .filter(posts::id.eq_any(ids))
            .select(post_with_like_columns!())
            .load(conn)
            .await?);
        Ok(in_order_of(ids, self.posts_with_pictures(rows).await?))
    }

    /// The posts of a page's rows, each with its pictures beyond the first: one query for the
    /// whole page, and none when each of its posts has only one.
    pub(crate) async fn posts_with_pictures(&self, rows: Vec<PostWithLike>) -> DbResult<Vec<Post>> {
        let ids: Vec<i64> = rows
            .iter()
            .filter(|(post, _, _)| post.picture_count > 1)
            .map(|(post, _, _)| post.id)
            .collect();
        let mut posts = into_posts(rows);
        if ids.is_empty() {
            return Ok(posts);
        }
        let media: Vec<PostMediaRow> = with_conn!(self, conn => post_media::table
            .filter(post_media::post_id.eq_any(&ids))
            .order((post_media::post_id, post_media::position))
            .select(PostMediaRow::as_select())
            .load(conn)
            .await?);
        let mut by_post: HashMap<i64, Vec<Picture>> = HashMap::new();
        for row in media {
            by_post
                .entry(row.post_id)
                .or_default()
                .push(row.into_picture());
        }
        for post in &mut posts {
            if let Some(pictures) = by_post.remove(&post.id.get()) {
                post.more_pictures = pictures;
            }
        }
        Ok(posts)
    }
}

#[async_trait]
impl PostRepository for Database {
    #[tracing::instrument(skip_all, fields(author = post.author.get()))]
    async fn create(&self, post: NewPost) -> Result<Post> {
        let now = Ts::now();
        let picture_count = i16::try_from(1 + post.more_pictures.len())
            .map_err(|_| DomainError::internal("too many pictures"))?;
        let row = NewPostRow {
            author_id: post.author.get(),
            image_key: &post.image_key,
            thumbnail_key: &post.thumbnail_key,
            width: post.width,
            height: post.height,
            caption: post.caption.as_str(),
            alt_text: post.alt_text.as_str(),
            blurhash: &post.placeholder.blurhash,
            dominant_color: &post.placeholder.dominant_color,
            picture_count,
            medium_key: post.medium_key.as_deref(),
            created_at: now,
            updated_at: now,
        };
        let more: Vec<PostMediaRow> = post
            .more_pictures
            .iter()
            .zip(1i16..)
            .map(|(picture, position)| PostMediaRow {
                post_id: 0,
                position,
                image_key: picture.image_key.clone(),
                thumbnail_key: picture.thumbnail_key.clone(),
                width: picture.width,
                height: picture.height,
                alt_text: picture.alt_text.as_str().to_owned(),
                blurhash: picture.placeholder.blurhash.clone(),
                dominant_color: picture.placeholder.dominant_color.clone(),
                medium_key: picture.medium_key.clone(),
            })
            .collect();
        let rules = self.feed;
        let result: DbResult<(PostRow, AuthorRow)> = async {
            transaction!(self, conn => {
                let created: PostRow = diesel::insert_into(posts::table)
                    .values(&row)
                    .returning(PostRow::as_returning())
                    .get_result(conn)
                    .await?;
                // One statement per picture (at most nine): diesel's multi-row insert is
                // PostgreSQL's only.
                for picture in &more {
                    diesel::insert_into(post_media::table)
                        .values(PostMediaRow { post_id: created.id, ..picture.clone() })
                        .execute(conn)
                        .await?;
                }
                let (author, followers, until): (AuthorRow, i64, Option<Ts>) =
                    diesel::update(users::table.find(row.author_id))
                        .set((
                            users::post_count.eq(users::post_count + 1),
                            users::posts_version.eq(users::posts_version + 1),
                            // Raised, never lowered: another process's clock may be behind
                            // the one that made the author's newest post.
                            users::last_post_at.eq(case_when(
                                users::last_post_at.ge(now),
                                users::last_post_at,
                            )
                            .otherwise(Some(now))),
                        ))
                        .returning((AuthorRow::as_returning(), users::follower_count, users::pulled_until))
                        .get_result(conn)
                        .await?;
                let entry = Entry { post_id: created.id, author_id: created.author_id, created_at: now };
                conn.publish(entry, followers, until, &rules).await?;
                Ok((created, author))
            })
        }
        .await;
        match result {
            Ok((created, author)) => {
                let mut post = created.into_post(author, false);
                post.more_pictures = more.into_iter().map(PostMediaRow::into_picture).collect();
                Ok(post)
            }
            Err(err) if is_violation(&err, &DatabaseErrorKind::ForeignKeyViolation) => {
                Err(DomainError::NotFound(Resource::User))
            }
            Err(err) => Err(err.into()),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn get(&self, id: PostId, viewer: Option<UserId>) -> Result<Option<Post>> {
        let id = id.get();
        let viewer = viewer.map(UserId::get);
        Ok(self
            .posts_by_ids(&[id], viewer.map(UserId::new))
            .await?
            .pop())
    }

    #[tracing::instrument(skip(self))]
    async fn author_of(&self, id: PostId) -> Result<Option<UserId>> {
        let id = id.get();
        let author = async {
            with_conn!(self, conn => {
                DbResult::Ok(posts::table.find(id).select(posts::author_id).first::<i64>(conn).await.optional()?)
            })
        }
        .await?;
        Ok(author.map(UserId::new))
    }

    #[tracing::instrument(skip(self, changes))]
    async fn update_text(
        &self,
        id: PostId,
        changes: PostTextChanges,
        viewer: UserId,
    ) -> Result<Post> {
        let id = id.get();
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
            return Err(DomainError::NotFound(Resource::Post));
        }
        self.posts_by_ids(&[id], Some(viewer))
            .await?
            .pop()
            .ok_or(DomainError::NotFound(Resource::Post))
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: PostId, author: UserId) -> Result<RemovedMedia> {
        let id = id.get();
        let author = author.get();
        let keys = async {
            transaction!(self, conn => {
                // Users before posts: the author's row first, then the post's.
                conn.lock_users(&[author]).await?;
                // Its other pictures first, to read their keys (the post's deletion would
                // cascade to them); should the post not be the author's, the transaction rolls
                // back and they are there again.
                let more: Vec<PostMediaRow> = diesel::delete(
                    post_media::table.filter(post_media::post_id.eq(id)),
                )
                .returning(PostMediaRow::as_returning())
                .get_results(conn)
                .await?;
                let deleted: Option<(String, Option<String>, String)> = diesel::delete(
                    posts::table.filter(posts::id.eq(id)).filter(posts::author_id.eq(author)),
                )
                .returning((posts::image_key, posts::medium_key, posts::thumbnail_key))
                .get_result(conn)
                .await
                .optional()?;
                let Some((image, medium, thumbnail)) = deleted else {
                    return Err(DomainError::NotFound(Resource::Post).into());
                };
                // After the post's row: an outbox chunk still copying it has made the deletion
                // wait above, and its entries are visible now.
                conn.withdraw(&[id]).await?;
                diesel::update(users::table.find(author))
                    .set((
                        users::post_count.eq(users::post_count - 1),
                        users::posts_version.eq(users::posts_version + 1),
                    ))
                    .execute(conn)
                    .await?;
                let mut keys: Vec<String> = [Some(image), medium, Some(thumbnail)].into_iter().flatten().collect();
                keys.extend(more.into_iter().flat_map(PostMediaRow::keys));
                Ok(keys)
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
        let author = author.get();
        let viewer = viewer.get();
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
        Ok(Page::from_rows(
            self.posts_with_pictures(rows).await?,
            &page,
            post_cursor,
        ))
    }
}

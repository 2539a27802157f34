//! Comments and replies. Every change locks the post row first (its `comments_count` changes
//! anyway), so changes to one post's thread queue behind each other: a reply cannot slip under a
//! comment whose thread is being deleted.

use async_trait::async_trait;
use being_social_domain::model::{Comment, CommentId, CommentOwnership, PostId};
use being_social_domain::pagination::{Cursor, Page, PageRequest};
use being_social_domain::ports::{CommentRepository, NewComment};
use being_social_domain::{DomainError, Result};
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel_async::RunQueryDsl;

use super::models::{AuthorRow, CommentRow, NewCommentRow};
use super::schema::{Ts, comments, posts, users};
use super::{
    Database, DbError, DbResult, Dialect, IDS_PER_STATEMENT, is_violation, oldest_first_start,
};
use being_social_domain::Resource;
use being_social_domain::model::UserId;

#[async_trait]
impl CommentRepository for Database {
    #[tracing::instrument(skip_all, fields(post = comment.post_id.get(), parent = comment.parent_id.map(CommentId::get)))]
    async fn create(&self, comment: NewComment) -> Result<Comment> {
        let now = Ts::now();
        let row = NewCommentRow {
            author_id: comment.author.get(),
            post_id: comment.post_id.get(),
            parent_id: comment.parent_id.map(CommentId::get),
            content: comment.content.as_str(),
            created_at: now,
            updated_at: now,
        };
        let result: DbResult<(CommentRow, AuthorRow)> = async {
            transaction!(self, conn => {
                // Lock order: the author (against deletion), then the post, then the parent.
                if !conn.share_lock_user(row.author_id).await? {
                    return Err(DomainError::Unauthenticated.into());
                }
                let post: Option<i64> = diesel::update(posts::table.find(row.post_id))
                    .set(posts::comments_count.eq(posts::comments_count + 1))
                    .returning(posts::id)
                    .get_result(conn)
                    .await
                    .optional()?;
                if post.is_none() {
                    return Err(DomainError::NotFound(Resource::Post).into());
                }
                // The parent must exist before the insert: the foreign key alone would accept a
                // reply naming the id the new row itself is about to get (a comment that is its
                // own parent, whose thread never ends).
                if let Some(parent) = row.parent_id {
                    let found: Option<i64> = comments::table
                        .filter(comments::post_id.eq(row.post_id))
                        .filter(comments::id.eq(parent))
                        .select(comments::id)
                        .first(conn)
                        .await
                        .optional()?;
                    if found.is_none() {
                        return Err(DomainError::NotFound(Resource::Comment).into());
                    }
                }
                // The composite key (post_id, parent_id) refuses a parent from another post.
                let created: CommentRow = diesel::insert_into(comments::table)
                    .values(&row)
                    .returning(CommentRow::as_returning())
                    .get_result(conn)
                    .await
                    .map_err(DbError::from)
                    .map_err(|err| {
                        if is_violation(&err, &DatabaseErrorKind::ForeignKeyViolation) {
                            DbError::Domain(DomainError::NotFound(Resource::Comment))
                        } else {
                            err
                        }
                    })?;
                if let Some(parent) = row.parent_id {
                    diesel::update(comments::table.find(parent))
                        .set(comments::reply_count.eq(comments::reply_count + 1))
                        .execute(conn)
                        .await?;
                }
                let author: AuthorRow = users::table
                    .find(row.author_id)
                    .select(AuthorRow::as_select())
                    .first(conn)
                    .await?;
                Ok((created, author))
            })
        }
        .await;
        let (created, author) = result?;
        Ok(created.into_comment(author))
    }

    #[tracing::instrument(skip(self))]
    async fn ownership(&self, id: CommentId) -> Result<Option<CommentOwnership>> {
        let id = id.get();
        let found: Option<(i64, i64, i64)> = async {
            with_conn!(self, conn => {
                DbResult::Ok(comments::table
                    .inner_join(posts::table)
                    .filter(comments::id.eq(id))
                    .select((comments::post_id, comments::author_id, posts::author_id))
                    .first(conn)
                    .await
                    .optional()?)
            })
        }
        .await?;
        Ok(
            found.map(|(post_id, comment_author, post_author)| CommentOwnership {
                post_id: PostId::new(post_id),
                comment_author: UserId::new(comment_author),
                post_author: UserId::new(post_author),
            }),
        )
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, id: CommentId) -> Result<u64> {
        let id = id.get();
        let removed = async {
            transaction!(self, conn => {
                let found: Option<(i64, Option<i64>)> = comments::table
                    .find(id)
                    .select((comments::post_id, comments::parent_id))
                    .first(conn)
                    .await
                    .optional()?;
                let Some((post, parent)) = found else {
                    return Ok(0);
                };
                conn.lock_posts(&[post], false).await?;
                // Under the post's lock the thread cannot grow or shrink.
                let thread = conn.comment_thread(post, id).await?;
                if thread.is_empty() {
                    return Ok(0);
                }
                for chunk in thread.chunks(IDS_PER_STATEMENT) {
                    diesel::delete(comments::table.filter(comments::id.eq_any(chunk)))
                        .execute(conn)
                        .await?;
                }
                // Count the thread, not the rows the statement reports: SQLite's ON DELETE CASCADE
                // removes replies before the statement reaches them, and those are not in its count.
                let removed = thread.len();
                let n = i64::try_from(removed).unwrap_or(i64::MAX);
                diesel::update(posts::table.find(post))
                    .set(posts::comments_count.eq(posts::comments_count - n))
                    .execute(conn)
                    .await?;
                if let Some(parent) = parent {
                    diesel::update(comments::table.find(parent))
                        .set(comments::reply_count.eq(comments::reply_count - 1))
                        .execute(conn)
                        .await?;
                }
                Ok(u64::try_from(removed).unwrap_or(0))
            })
        }
        .await?;
        Ok(removed)
    }

    #[tracing::instrument(skip(self))]
    async fn list(
        &self,
        post: PostId,
        parent: Option<CommentId>,
        page: PageRequest,
    ) -> Result<Page<Comment>> {
        let post = post.get();
        let parent = parent.map(CommentId::get);
        let (at, id) = oldest_first_start(page.after);
        let limit = page.fetch_limit();
        let rows: Vec<(CommentRow, AuthorRow)> = async {
            with_conn!(self, conn => {
                let post_exists = posts::table.find(post).select(posts::id).first::<i64>(conn).await.optional()?;
                if post_exists.is_none() {
                    return Err(DomainError::NotFound(Resource::Post).into());
                }
                let base = comments::table
                    .inner_join(users::table)
                    .filter(comments::post_id.eq(post))
                    .filter(comments::created_at.ge(at))
                    .filter(comments::created_at.gt(at).or(comments::id.gt(id)))
                    .order((comments::created_at.asc(), comments::id.asc()))
                    .limit(limit)
                    .select((CommentRow::as_select(), AuthorRow::as_select()));
                let rows = match parent {
                    None => base.filter(comments::parent_id.is_null()).load(conn).await?,
                    Some(parent) => {
                        let parent_exists = comments::table
                            .filter(comments::id.eq(parent))
                            .filter(comments::post_id.eq(post))
                            .select(comments::id)
                            .first::<i64>(conn)
                            .await
                            .optional()?;
                        if parent_exists.is_none() {
                            return Err(DomainError::NotFound(Resource::Comment).into());
                        }
                        base.filter(comments::parent_id.eq(parent)).load(conn).await?
                    }
                };
                DbResult::Ok(rows)
            })
        }
        .await?;
        let comments: Vec<Comment> = rows
            .into_iter()
            .map(|(comment, author)| comment.into_comment(author))
            .collect();
        Ok(Page::from_rows(comments, &page, |c: &Comment| Cursor {
            at: c.created_at,
            id: c.id.get(),
        }))
    }
}

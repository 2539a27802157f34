//! Comments and replies.

use async_trait::async_trait;

use crate::Result;
use crate::model::{Comment, CommentId, CommentOwnership, PostId, UserId};
use crate::pagination::{Page, PageRequest};
use crate::values::CommentContent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    pub post_id: PostId,
    pub parent_id: Option<CommentId>,
    pub author: UserId,
    pub content: CommentContent,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CommentRepository: Send + Sync {
    /// Inserts the comment; in the same transaction adds one to the post's `comments_count` and,
    /// for a reply, to the parent's `reply_count`.
    ///
    /// # Errors
    /// MUST return `NotFound(Resource::Post)` if the post does not exist, and `NotFound(Resource::Comment)` if the
    /// parent does not exist or belongs to another post.
    async fn create(&self, comment: NewComment) -> Result<Comment>;

    async fn ownership(&self, id: CommentId) -> Result<Option<CommentOwnership>>;

    /// Deletes the comment and every reply beneath it; in the same transaction subtracts the
    /// number removed from the post's `comments_count` and one from the parent's `reply_count`.
    /// Returns how many comments were removed (0 if it was already gone).
    async fn delete(&self, id: CommentId) -> Result<u64>;

    /// Comments of the post under `parent` (top-level when `None`), oldest first.
    ///
    /// # Errors
    /// MUST return `NotFound(Resource::Post)` if the post does not exist, and `NotFound(Resource::Comment)` if
    /// `parent` does not exist or belongs to another post.
    async fn list(
        &self,
        post: PostId,
        parent: Option<CommentId>,
        page: PageRequest,
    ) -> Result<Page<Comment>>;
}

//! Comments and replies: writing them, reading a thread, deleting one with everything beneath it.

use std::sync::Arc;

use super::Ports;
use crate::Resource;
use crate::model::{Comment, CommentId, PostId, UserId};
use crate::pagination::{Page, PageRequest};
use crate::ports::{CommentRepository, NewComment};
use crate::values::CommentContent;
use crate::{DomainError, Result};

/// Comments and replies.
#[derive(Clone)]
pub struct CommentService {
    comments: Arc<dyn CommentRepository>,
}

impl CommentService {
    pub fn new(ports: &Ports) -> Self {
        Self {
            comments: ports.comments.clone(),
        }
    }

    /// Comments on a post, or replies to a comment of it.
    ///
    /// # Errors
    /// `Validation`, `NotFound(Resource::Post)`, `NotFound(Resource::Comment)` when the parent is not of that post.
    pub async fn create(
        &self,
        me: UserId,
        post_id: PostId,
        parent_id: Option<CommentId>,
        content: Option<&str>,
    ) -> Result<Comment> {
        let content = match content {
            Some(raw) => {
                CommentContent::parse(raw).map_err(|m| DomainError::validation("content", m))?
            }
            None => {
                return Err(DomainError::validation(
                    "content",
                    "This field is required.",
                ));
            }
        };
        self.comments
            .create(NewComment {
                post_id,
                parent_id,
                author: me,
                content,
            })
            .await
    }

    pub async fn list(
        &self,
        post_id: PostId,
        parent_id: Option<CommentId>,
        page: PageRequest,
    ) -> Result<Page<Comment>> {
        self.comments.list(post_id, parent_id, page).await
    }

    /// Deletes a comment and its replies: the comment's author or the post's author may.
    ///
    /// # Errors
    /// `NotFound(Resource::Comment)`, `Forbidden`.
    pub async fn delete(&self, me: UserId, id: CommentId) -> Result<()> {
        let ownership = self
            .comments
            .ownership(id)
            .await?
            .ok_or(DomainError::NotFound(Resource::Comment))?;
        if me != ownership.comment_author && me != ownership.post_author {
            return Err(DomainError::Forbidden(
                "Only the comment's author or the post's author may delete it.",
            ));
        }
        self.comments.delete(id).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CommentOwnership;
    use crate::ports::MockCommentRepository;

    fn owned_by(comment_author: UserId, post_author: UserId) -> MockCommentRepository {
        let mut comments = MockCommentRepository::new();
        comments.expect_ownership().returning(move |_| {
            Ok(Some(CommentOwnership {
                post_id: PostId::new(1),
                comment_author,
                post_author,
            }))
        });
        comments
    }

    #[tokio::test]
    async fn a_stranger_cannot_delete() {
        let svc = CommentService {
            comments: Arc::new(owned_by(UserId::new(2), UserId::new(3))),
        };
        assert!(matches!(
            svc.delete(UserId::new(4), CommentId::new(9)).await,
            Err(DomainError::Forbidden(_))
        ));
    }

    #[tokio::test]
    async fn the_post_author_can_delete_a_strangers_comment() {
        let mut comments = owned_by(UserId::new(2), UserId::new(3));
        comments.expect_delete().times(1).returning(|_| Ok(1));
        let svc = CommentService {
            comments: Arc::new(comments),
        };
        assert!(svc.delete(UserId::new(3), CommentId::new(9)).await.is_ok());
    }

    #[tokio::test]
    async fn blank_content_is_refused() {
        let svc = CommentService {
            comments: Arc::new(MockCommentRepository::new()),
        };
        assert!(matches!(
            svc.create(UserId::new(1), PostId::new(1), None, Some("   "))
                .await,
            Err(DomainError::Validation(_))
        ));
    }
}

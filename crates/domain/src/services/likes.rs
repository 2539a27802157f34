//! Liking, unliking, and who liked a post.

use std::sync::Arc;

use super::{Ports, with_relationships};
use crate::Resource;
use crate::model::{LikeOutcome, ListedUser, PostId, UserId};
use crate::pagination::{Page, PageRequest};
use crate::ports::{AccountRepository, LikeRepository, PostRepository};
use crate::{DomainError, Result};

/// Likes of posts.
#[derive(Clone)]
pub struct LikeService {
    accounts: Arc<dyn AccountRepository>,
    posts: Arc<dyn PostRepository>,
    likes: Arc<dyn LikeRepository>,
}

impl LikeService {
    pub fn new(ports: &Ports) -> Self {
        Self {
            accounts: ports.accounts.clone(),
            posts: ports.posts.clone(),
            likes: ports.likes.clone(),
        }
    }

    /// # Errors
    /// `NotFound(Resource::Post)`.
    pub async fn like(&self, me: UserId, post: PostId) -> Result<LikeOutcome> {
        self.likes.like(me, post).await
    }

    pub async fn unlike(&self, me: UserId, post: PostId) -> Result<()> {
        self.likes.unlike(me, post).await.map(|_| ())
    }

    /// # Errors
    /// `NotFound(Resource::Post)`.
    pub async fn likers(
        &self,
        post: PostId,
        viewer: UserId,
        page: PageRequest,
    ) -> Result<Page<ListedUser>> {
        if self.posts.author_of(post).await?.is_none() {
            return Err(DomainError::NotFound(Resource::Post));
        }
        let page = self.likes.likers(post, page).await?;
        with_relationships(self.accounts.as_ref(), viewer, page).await
    }
}

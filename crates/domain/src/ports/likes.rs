//! Likes of posts, and who liked a post.

use async_trait::async_trait;

use crate::Result;
use crate::model::{LikeOutcome, ListedUser, PostId, UserId};
use crate::pagination::{Page, PageRequest};

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LikeRepository: Send + Sync {
    /// Records the like and adds one to `likes_count` in the same transaction, only if it is new.
    /// The answer comes after the commit.
    ///
    /// # Errors
    /// MUST return `NotFound(Resource::Post)` if the post does not exist (or is deleted meanwhile).
    async fn like(&self, user: UserId, post: PostId) -> Result<LikeOutcome>;

    /// Removes the like if it exists, subtracting one from `likes_count` only then.
    /// Returns whether it existed; an unknown post is not an error.
    async fn unlike(&self, user: UserId, post: PostId) -> Result<bool>;

    /// Users who like the post, most recent first.
    async fn likers(&self, post: PostId, page: PageRequest) -> Result<Page<ListedUser>>;
}

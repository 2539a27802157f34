//! Follows: who follows whom, and the two lists.

use async_trait::async_trait;

use crate::Result;
use crate::model::{ListedUser, UserId};
use crate::pagination::{Page, PageRequest};

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FollowRepository: Send + Sync {
    /// Makes `follower` follow `leader`, updating both users' counters in the same transaction
    /// only if the edge is new. Returns whether it was new.
    ///
    /// # Errors
    /// MUST return `NotFound(Resource::User)` if either user does not exist. Never fails because another
    /// request touches the same users at the same time (no deadlock, no serialization error).
    async fn follow(&self, follower: UserId, leader: UserId) -> Result<bool>;

    /// Removes the edge if it exists, updating both counters only if it did. Returns whether it
    /// existed. Same concurrency promise as [`FollowRepository::follow`].
    async fn unfollow(&self, follower: UserId, leader: UserId) -> Result<bool>;

    /// Users who follow `user`, most recent first.
    async fn followers(&self, user: UserId, page: PageRequest) -> Result<Page<ListedUser>>;

    /// Users `user` follows, most recent first.
    async fn following(&self, user: UserId, page: PageRequest) -> Result<Page<ListedUser>>;
}

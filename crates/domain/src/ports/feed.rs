//! The home feed: the posts of the people a viewer follows, and the viewer's own.

use async_trait::async_trait;

use crate::Result;
use crate::model::{Post, UserId};
use crate::pagination::{Page, PageRequest};

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FeedRepository: Send + Sync {
    /// Posts of everyone `viewer` follows and of `viewer`, newest first. The cost of a page does
    /// not grow with how many posts those users have in all.
    async fn feed(&self, viewer: UserId, page: PageRequest) -> Result<Page<Post>>;
}

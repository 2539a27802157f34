//! The home feed: posts of the people one follows, and one's own, newest first.

use std::sync::Arc;

use super::Ports;
use crate::Result;
use crate::model::{Post, UserId};
use crate::pagination::{Page, PageRequest};
use crate::ports::FeedRepository;

/// The home feed.
#[derive(Clone)]
pub struct FeedService {
    feed: Arc<dyn FeedRepository>,
}

impl FeedService {
    pub fn new(ports: &Ports) -> Self {
        Self {
            feed: ports.feed.clone(),
        }
    }

    pub async fn feed(&self, me: UserId, page: PageRequest) -> Result<Page<Post>> {
        self.feed.feed(me, page).await
    }
}

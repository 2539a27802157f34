//! Posts: a picture with its text, and an author's list.

use async_trait::async_trait;

use super::accounts::RemovedMedia;
use crate::Result;
use crate::model::{Placeholder, Post, PostId, UserId};
use crate::pagination::{Page, PageRequest};
use crate::values::{AltText, Caption};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    pub author: UserId,
    pub image_key: String,
    pub medium_key: Option<String>,
    pub thumbnail_key: String,
    pub width: i32,
    pub height: i32,
    pub caption: Caption,
    pub alt_text: AltText,
    pub placeholder: Placeholder,
    /// The second to last pictures, in order (at most [`MAX_PICTURES_PER_POST`] - 1).
    ///
    /// [`MAX_PICTURES_PER_POST`]: crate::model::MAX_PICTURES_PER_POST
    pub more_pictures: Vec<NewPicture>,
}

/// A picture of a new post beyond its first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPicture {
    pub image_key: String,
    pub medium_key: Option<String>,
    pub thumbnail_key: String,
    pub width: i32,
    pub height: i32,
    pub alt_text: AltText,
    pub placeholder: Placeholder,
}

/// Text changes to a post; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostTextChanges {
    pub caption: Option<Caption>,
    pub alt_text: Option<AltText>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PostRepository: Send + Sync {
    /// Inserts the post with all its pictures and adds one to the author's `post_count` in the
    /// same transaction.
    ///
    /// # Errors
    /// MUST return `NotFound(Resource::User)` if the author no longer exists.
    async fn create(&self, post: NewPost) -> Result<Post>;

    /// The post as `viewer` sees it (`liked_by_me`).
    async fn get(&self, id: PostId, viewer: Option<UserId>) -> Result<Option<Post>>;

    /// The author of the post, if it exists.
    async fn author_of(&self, id: PostId) -> Result<Option<UserId>>;

    /// # Errors
    /// MUST return `NotFound(Resource::Post)` if the post does not exist.
    async fn update_text(
        &self,
        id: PostId,
        changes: PostTextChanges,
        viewer: UserId,
    ) -> Result<Post>;

    /// Deletes the post of `author` with its pictures, likes and comments, subtracting one from
    /// the author's `post_count` in the same transaction. Returns the media keys to remove: those
    /// of every picture.
    ///
    /// # Errors
    /// MUST return `NotFound(Resource::Post)` if no post with this id belongs to `author`.
    async fn delete(&self, id: PostId, author: UserId) -> Result<RemovedMedia>;

    /// Posts of `author`, newest first.
    async fn by_author(
        &self,
        author: UserId,
        viewer: UserId,
        page: PageRequest,
    ) -> Result<Page<Post>>;
}

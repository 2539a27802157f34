//! The ports: what the domain needs from the outside world. Adapters in `being-social-infra`
//! implement them; services in [`crate::services`] use them; tests mock them (feature `mocks`).
//!
//! Every method returns [`DomainError::Unavailable`] when its backing store cannot be reached
//! and [`DomainError::Internal`] for anything unexpected; the `# Errors` sections list only what
//! callers are expected to handle besides those.
//!
//! [`DomainError::Unavailable`]: crate::DomainError::Unavailable
//! [`DomainError::Internal`]: crate::DomainError::Internal

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::model::{
    Comment, CommentId, CommentOwnership, ImageFormat, ImagePurpose, IssuedToken, LikeOutcome,
    ListedUser, Post, PostId, ProcessedImage, Relationship, StoredMedia, User, UserId,
};
use crate::pagination::{Page, PageRequest};
use crate::values::{AltText, Bio, Caption, CommentContent, Email, FullName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: Email,
    pub full_name: FullName,
    pub password_hash: String,
}

/// Fields to change on a profile; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub full_name: Option<FullName>,
    pub bio: Option<Bio>,
    pub password_hash: Option<String>,
    pub avatar_key: Option<String>,
    /// With a new `password_hash`: the hash of the one token to keep (the one the change was made
    /// with). Every other token of the user is revoked in the same transaction as the change;
    /// `None` revokes them all. Ignored without a new password.
    pub keep_token: Option<Vec<u8>>,
}

impl ProfileChanges {
    pub fn is_empty(&self) -> bool {
        self.full_name.is_none()
            && self.bio.is_none()
            && self.password_hash.is_none()
            && self.avatar_key.is_none()
    }
}

/// A user's credentials as stored, for login and password changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    pub user: User,
    pub password_hash: String,
}

/// What an account deletion removed that lives outside the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedMedia {
    pub keys: Vec<String>,
}

/// The result of a profile update: the user after it and the avatar it replaced, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatedProfile {
    pub user: User,
    pub replaced_avatar: Option<String>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Creates a user with all counters at zero.
    ///
    /// # Errors
    /// MUST return `Conflict { code: "email_taken", .. }` if another user has the same email,
    /// compared case-insensitively, even when both are created at the same instant.
    async fn create(&self, user: NewUser) -> Result<User>;

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>>;

    /// Looks a user up by email, case-insensitively.
    async fn find_by_email(&self, email: &str) -> Result<Option<User>>;

    /// The user and password hash of the account with this email (case-insensitive).
    async fn credentials_by_email(&self, email: &str) -> Result<Option<StoredCredentials>>;

    async fn credentials_by_id(&self, id: UserId) -> Result<Option<StoredCredentials>>;

    /// Applies the changes in one statement and returns the user after them. A new password
    /// also revokes the user's tokens but [`ProfileChanges::keep_token`], in the same
    /// transaction.
    ///
    /// # Errors
    /// MUST return `NotFound("user")` if the user does not exist.
    async fn update_profile(&self, id: UserId, changes: ProfileChanges) -> Result<UpdatedProfile>;

    /// Deletes the account with its posts, likes, comments (with every reply beneath them),
    /// follows and tokens, and corrects every counter elsewhere that counted them, in one
    /// transaction.
    ///
    /// # Errors
    /// MUST return `NotFound("user")` if the user does not exist.
    async fn delete(&self, id: UserId) -> Result<RemovedMedia>;

    /// How `viewer` relates to each of `others`, in the same order, in one query (false/false for
    /// users that do not exist).
    async fn relationships(&self, viewer: UserId, others: Vec<UserId>)
    -> Result<Vec<Relationship>>;
}

/// A login token as stored, found by its hash: whose it is, when it was issued and when it was
/// last used. Whether it has expired is the services' decision (see
/// [`TokenLifetimes`](crate::services::TokenLifetimes)), not the store's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub user: User,
    pub created_at: DateTime<Utc>,
    /// The last use recorded by [`TokenRepository::touch`]; the issue time until then. Uses are
    /// recorded only now and then, so this may lag the real last use a little.
    pub last_used_at: DateTime<Utc>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TokenRepository: Send + Sync {
    /// Stores the hash of a new token for the user, issued and last used now.
    async fn insert(&self, user: UserId, token_hash: Vec<u8>) -> Result<()>;

    /// The token with this hash and its owner as stored now, if it exists and was not revoked or
    /// deleted, expired or not.
    async fn find(&self, token_hash: Vec<u8>) -> Result<Option<StoredToken>>;

    /// Records a use of the token at `used_at`, only if the use recorded is older than
    /// `if_before`: requests that race past the same threshold write it once, not once each.
    /// An unknown token is not an error.
    async fn touch(
        &self,
        token_hash: Vec<u8>,
        used_at: DateTime<Utc>,
        if_before: DateTime<Utc>,
    ) -> Result<()>;

    /// Revokes the token; revoking an unknown token is not an error.
    async fn revoke(&self, token_hash: Vec<u8>) -> Result<()>;

    /// Revokes every token of the user; returns how many there were.
    async fn revoke_all(&self, user: UserId) -> Result<u64>;

    /// Deletes up to `limit` tokens issued before `created_before` or last used before
    /// `used_before`, in one short statement; returns how many it deleted (fewer than `limit`
    /// when no more are left). Meant to be called again while it returns `limit`.
    ///
    /// # Errors
    /// Only the store's own (`Unavailable`, `Internal`); deleting nothing is not an error, and
    /// several processes sweeping at once each delete distinct tokens or none.
    async fn delete_expired(
        &self,
        created_before: DateTime<Utc>,
        used_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64>;
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FollowRepository: Send + Sync {
    /// Makes `follower` follow `leader`, updating both users' counters in the same transaction
    /// only if the edge is new. Returns whether it was new.
    ///
    /// # Errors
    /// MUST return `NotFound("user")` if either user does not exist. Never fails because another
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    pub author: UserId,
    pub image_key: String,
    pub thumbnail_key: String,
    pub width: i32,
    pub height: i32,
    pub caption: Caption,
    pub alt_text: AltText,
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
    /// Inserts the post and adds one to the author's `post_count` in the same transaction.
    ///
    /// # Errors
    /// MUST return `NotFound("user")` if the author no longer exists.
    async fn create(&self, post: NewPost) -> Result<Post>;

    /// The post as `viewer` sees it (`liked_by_me`).
    async fn get(&self, id: PostId, viewer: Option<UserId>) -> Result<Option<Post>>;

    /// The author of the post, if it exists.
    async fn author_of(&self, id: PostId) -> Result<Option<UserId>>;

    /// # Errors
    /// MUST return `NotFound("post")` if the post does not exist.
    async fn update_text(
        &self,
        id: PostId,
        changes: PostTextChanges,
        viewer: UserId,
    ) -> Result<Post>;

    /// Deletes the post of `author` with its likes and comments, subtracting one from the
    /// author's `post_count` in the same transaction. Returns the media keys to remove.
    ///
    /// # Errors
    /// MUST return `NotFound("post")` if no post with this id belongs to `author`.
    async fn delete(&self, id: PostId, author: UserId) -> Result<RemovedMedia>;

    /// Posts of `author`, newest first.
    async fn by_author(
        &self,
        author: UserId,
        viewer: UserId,
        page: PageRequest,
    ) -> Result<Page<Post>>;

    /// Posts of everyone `viewer` follows and of `viewer`, newest first. The cost of a page does
    /// not grow with how many posts those users have in all.
    async fn feed(&self, viewer: UserId, page: PageRequest) -> Result<Page<Post>>;
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LikeRepository: Send + Sync {
    /// Records the like and adds one to `likes_count` in the same transaction, only if it is new.
    /// The answer comes after the commit.
    ///
    /// # Errors
    /// MUST return `NotFound("post")` if the post does not exist (or is deleted meanwhile).
    async fn like(&self, user: UserId, post: PostId) -> Result<LikeOutcome>;

    /// Removes the like if it exists, subtracting one from `likes_count` only then.
    /// Returns whether it existed; an unknown post is not an error.
    async fn unlike(&self, user: UserId, post: PostId) -> Result<bool>;

    /// Users who like the post, most recent first.
    async fn likers(&self, post: PostId, page: PageRequest) -> Result<Page<ListedUser>>;
}

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
    /// MUST return `NotFound("post")` if the post does not exist, and `NotFound("comment")` if the
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
    /// MUST return `NotFound("post")` if the post does not exist, and `NotFound("comment")` if
    /// `parent` does not exist or belongs to another post.
    async fn list(
        &self,
        post: PostId,
        parent: Option<CommentId>,
        page: PageRequest,
    ) -> Result<Page<Comment>>;
}

/// Where pictures live. Keys are chosen by the store, never by a client; a key that is not of the
/// store's own format is answered `None` without touching the storage.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Stores the bytes durably (written, flushed, then made visible at once) under a new key,
    /// which it returns.
    async fn put(&self, bytes: Vec<u8>, format: ImageFormat) -> Result<String>;

    /// The bytes and content type under the key, or `None`.
    async fn get(&self, key: &str) -> Result<Option<StoredMedia>>;

    /// Removes the keys; missing keys are ignored.
    async fn delete(&self, keys: Vec<String>) -> Result<()>;
}

/// Decodes, orients, resizes and re-encodes pictures, without any metadata.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ImageProcessor: Send + Sync {
    /// # Errors
    /// MUST return `UnsupportedMediaType` if the bytes are not a JPEG, PNG, WebP or GIF image,
    /// `BadRequest { code: "image_too_large", .. }` if the picture has more pixels than allowed
    /// (or needs more memory than the processor gives one picture), `BadRequest { code:
    /// "image_bad_shape", .. }` if its long edge or aspect ratio is over the limit, and
    /// `Overloaded` if the processor has no room for it within its wait.
    async fn process(&self, bytes: Vec<u8>, purpose: ImagePurpose) -> Result<ProcessedImage>;
}

/// Whether the stores the service depends on answer now (`/readyz`).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HealthCheck: Send + Sync {
    async fn ready(&self) -> bool;
}

/// Password hashing and login tokens. Implementations keep slow work off the async executor.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Credentials: Send + Sync {
    async fn hash_password(&self, password: String) -> Result<String>;

    /// Whether the password matches the hash. With `None` it spends the same work as a real check
    /// and returns false, so an unknown account takes as long as a wrong password.
    async fn verify_password(&self, password: String, hash: Option<String>) -> Result<bool>;

    /// A new random token and its hash.
    fn issue_token(&self) -> IssuedToken;

    /// The hash under which a token presented by a client is stored.
    fn hash_token(&self, secret: &str) -> Vec<u8>;
}

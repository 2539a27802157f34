//! Accounts: users, their credentials and profiles, account deletion.

use async_trait::async_trait;

use crate::Result;
use crate::model::{Relationship, User, UserId};
use crate::values::{Bio, Email, FullName};

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
pub trait AccountRepository: Send + Sync {
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
    /// MUST return `NotFound(Resource::User)` if the user does not exist.
    async fn update_profile(&self, id: UserId, changes: ProfileChanges) -> Result<UpdatedProfile>;

    /// Deletes the account with its posts, likes, comments (with every reply beneath them),
    /// follows and tokens, and corrects every counter elsewhere that counted them, in one
    /// transaction.
    ///
    /// # Errors
    /// MUST return `NotFound(Resource::User)` if the user does not exist.
    async fn delete(&self, id: UserId) -> Result<RemovedMedia>;

    /// How `viewer` relates to each of `others`, in the same order, in one query (false/false for
    /// users that do not exist).
    async fn relationships(&self, viewer: UserId, others: Vec<UserId>)
    -> Result<Vec<Relationship>>;
}

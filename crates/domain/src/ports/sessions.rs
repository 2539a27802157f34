//! Sessions: login tokens, stored as hashes, with when each was issued and last used.

use async_trait::async_trait;

use crate::Result;
use chrono::{DateTime, Utc};

use crate::model::User;
use crate::model::UserId;

/// A login token as stored, found by its hash: whose it is, when it was issued and when it was
/// last used. Whether it has expired is the services' decision (see
/// [`TokenLifetimes`](crate::services::TokenLifetimes)), not the store's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub user: User,
    pub created_at: DateTime<Utc>,
    /// The last use recorded by [`SessionRepository::touch`]; the issue time until then. Uses are
    /// recorded only now and then, so this may lag the real last use a little.
    pub last_used_at: DateTime<Utc>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
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

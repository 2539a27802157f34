//! The ports: what the domain needs from the outside world. Adapters in `being-social-infra`
//! implement them; services in [`crate::services`] use them; tests mock them (feature `mocks`).
//!
//! Every method returns [`DomainError::Unavailable`] when its backing store cannot be reached
//! and [`DomainError::Internal`] for anything unexpected; the `# Errors` sections list only what
//! callers are expected to handle besides those.
//!
//! [`DomainError::Unavailable`]: crate::DomainError::Unavailable
//! [`DomainError::Internal`]: crate::DomainError::Internal
//!
//! One module per feature, named as the feature is in every crate; all are re-exported here.

mod accounts;
mod comments;
mod feed;
mod follows;
mod likes;
mod media;
mod posts;
mod ratelimit;
mod sessions;

pub use accounts::*;
pub use comments::*;
pub use feed::*;
pub use follows::*;
pub use likes::*;
pub use media::*;
pub use posts::*;
pub use ratelimit::*;
pub use sessions::*;

use async_trait::async_trait;

use crate::Result;
use crate::model::IssuedToken;

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

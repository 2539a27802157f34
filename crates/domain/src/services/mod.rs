//! The rules of Being Social, one service per area. Services validate input into values, decide
//! who may do what, and call the ports; they hold no state of their own.

mod accounts;
mod comments;
mod posts;
mod social;

use std::sync::Arc;

pub use accounts::{
    AccountService, LoginInput, Profile, ProfileUpdate, SignupInput, TokenLifetimes,
};
pub use comments::CommentService;
pub use posts::{PostService, PostUpdate};
pub use social::FollowService;

use crate::model::UserId;
use crate::ports::{
    CommentRepository, Credentials, FollowRepository, HealthCheck, ImageProcessor, LikeRepository,
    MediaStore, PostRepository, TokenRepository, UserRepository,
};
use crate::{DomainError, Result};

/// Every adapter the services need.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub tokens: Arc<dyn TokenRepository>,
    pub follows: Arc<dyn FollowRepository>,
    pub posts: Arc<dyn PostRepository>,
    pub likes: Arc<dyn LikeRepository>,
    pub comments: Arc<dyn CommentRepository>,
    pub media: Arc<dyn MediaStore>,
    pub images: Arc<dyn ImageProcessor>,
    pub credentials: Arc<dyn Credentials>,
    pub health: Arc<dyn HealthCheck>,
}

/// The services, built once at start-up and shared by every request.
#[derive(Clone)]
pub struct Services {
    pub accounts: AccountService,
    pub follows: FollowService,
    pub posts: PostService,
    pub comments: CommentService,
    pub media: Arc<dyn MediaStore>,
    pub health: Arc<dyn HealthCheck>,
}

impl Services {
    pub fn new(ports: Ports) -> Self {
        Self {
            accounts: AccountService::new(&ports),
            follows: FollowService::new(&ports),
            posts: PostService::new(&ports),
            comments: CommentService::new(&ports),
            media: ports.media,
            health: ports.health,
        }
    }

    /// The services with tokens living as long as `lifetimes` says.
    #[must_use]
    pub fn with_token_lifetimes(mut self, lifetimes: TokenLifetimes) -> Self {
        self.accounts = self.accounts.with_token_lifetimes(lifetimes);
        self
    }
}

/// How a path names a user: all digits is an id, anything else an email (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Id(UserId),
    Email(String),
}

impl UserRef {
    pub fn parse(raw: &str) -> Self {
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            // An id too long for i64 names nobody; -1 is never issued.
            Self::Id(raw.parse().unwrap_or(-1))
        } else {
            Self::Email(raw.trim().to_owned())
        }
    }
}

/// Fills in how `viewer` relates to every user of the page, with one query.
async fn with_relationships(
    users: &dyn UserRepository,
    viewer: UserId,
    mut page: crate::pagination::Page<crate::model::ListedUser>,
) -> Result<crate::pagination::Page<crate::model::ListedUser>> {
    if page.items.is_empty() {
        return Ok(page);
    }
    let ids = page.items.iter().map(|listed| listed.user.id).collect();
    let relationships = users.relationships(viewer, ids).await?;
    for (listed, relationship) in page.items.iter_mut().zip(relationships) {
        listed.relationship = relationship;
    }
    Ok(page)
}

/// Resolves a user reference, `NotFound("user")` if nobody has it.
async fn resolve_user(users: &dyn UserRepository, user: &UserRef) -> Result<crate::model::User> {
    let found = match user {
        UserRef::Id(id) => users.find_by_id(*id).await?,
        // No stored email holds one (sign-up refuses it), and PostgreSQL cannot even compare it.
        UserRef::Email(email) if email.contains('\0') => {
            return Err(DomainError::BadRequest {
                code: "invalid_user",
                detail: "A user is named by an id or an email; this one holds a NUL character."
                    .into(),
            });
        }
        UserRef::Email(email) => users.find_by_email(email).await?,
    };
    found.ok_or(DomainError::NotFound("user"))
}

#[cfg(test)]
mod tests {
    use super::UserRef;

    #[test]
    fn user_ref_digits_are_ids() {
        assert_eq!(UserRef::parse("42"), UserRef::Id(42));
        assert_eq!(UserRef::parse("99999999999999999999"), UserRef::Id(-1));
        assert_eq!(UserRef::parse("a@b.c"), UserRef::Email("a@b.c".into()));
        assert_eq!(UserRef::parse("4a"), UserRef::Email("4a".into()));
    }
}

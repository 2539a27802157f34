//! The rules of Being Social, one service per feature (accounts, sessions, follows, posts,
//! likes, comments, feed), each in the file of that name. Services validate input into values,
//! decide who may do what, and call the ports; they hold no state of their own.

mod accounts;
mod comments;
mod feed;
mod follows;
mod likes;
mod posts;
mod sessions;

use std::sync::Arc;

pub use accounts::{AccountService, Profile, ProfileUpdate, SignupInput};
pub use comments::CommentService;
pub use feed::FeedService;
pub use follows::{FollowList, FollowService};
pub use likes::LikeService;
pub use posts::{PostService, PostUpdate};
pub use sessions::{LoginInput, SessionService, TokenLifetimes};

use crate::Resource;
use crate::model::UserId;
use crate::ports::{
    AccountRepository, CommentRepository, Credentials, FeedRepository, FollowRepository,
    HealthCheck, ImageProcessor, LikeRepository, MediaStore, PostRepository, SessionRepository,
};
use crate::{DomainError, FieldErrors, Result};

/// Every adapter the services need, one per port.
#[derive(Clone)]
pub struct Ports {
    pub accounts: Arc<dyn AccountRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub follows: Arc<dyn FollowRepository>,
    pub posts: Arc<dyn PostRepository>,
    pub likes: Arc<dyn LikeRepository>,
    pub comments: Arc<dyn CommentRepository>,
    pub feed: Arc<dyn FeedRepository>,
    pub media: Arc<dyn MediaStore>,
    pub images: Arc<dyn ImageProcessor>,
    pub credentials: Arc<dyn Credentials>,
    pub health: Arc<dyn HealthCheck>,
}

/// The services, built once at start-up and shared by every request.
#[derive(Clone)]
pub struct Services {
    pub accounts: AccountService,
    pub sessions: SessionService,
    pub follows: FollowService,
    pub posts: PostService,
    pub likes: LikeService,
    pub comments: CommentService,
    pub feed: FeedService,
    pub media: Arc<dyn MediaStore>,
    pub health: Arc<dyn HealthCheck>,
}

impl Services {
    pub fn new(ports: Ports) -> Self {
        Self {
            accounts: AccountService::new(&ports),
            sessions: SessionService::new(&ports),
            follows: FollowService::new(&ports),
            posts: PostService::new(&ports),
            likes: LikeService::new(&ports),
            comments: CommentService::new(&ports),
            feed: FeedService::new(&ports),
            media: ports.media,
            health: ports.health,
        }
    }

    /// The services with tokens living as long as `lifetimes` says.
    #[must_use]
    pub fn with_token_lifetimes(mut self, lifetimes: TokenLifetimes) -> Self {
        self.sessions = self.sessions.with_token_lifetimes(lifetimes);
        self
    }
}

/// The value of a required field, or an error recorded on it.
fn required<'a>(
    errors: &mut FieldErrors,
    field: &'static str,
    value: &'a Option<String>,
) -> Option<&'a str> {
    match value.as_deref() {
        Some(v) => Some(v),
        None => {
            errors.add(field, "This field is required.");
            None
        }
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
            Self::Id(UserId::new(raw.parse().unwrap_or(-1)))
        } else {
            Self::Email(raw.trim().to_owned())
        }
    }
}

/// Fills in how `viewer` relates to every user of the page, with one query.
async fn with_relationships(
    users: &dyn AccountRepository,
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

/// Resolves a user reference, `NotFound(Resource::User)` if nobody has it.
async fn resolve_user(users: &dyn AccountRepository, user: &UserRef) -> Result<crate::model::User> {
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
    found.ok_or(DomainError::NotFound(Resource::User))
}

/// Mocked ports for the services' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use chrono::Utc;

    use super::{AccountService, Ports, SessionService};
    use crate::model::{User, UserId};
    use crate::ports::{
        MockAccountRepository, MockCommentRepository, MockCredentials, MockFeedRepository,
        MockFollowRepository, MockHealthCheck, MockImageProcessor, MockLikeRepository,
        MockMediaStore, MockPostRepository, MockSessionRepository,
    };

    pub(crate) fn user(id: UserId) -> User {
        User {
            id,
            email: format!("u{id}@example.com"),
            full_name: "U".into(),
            bio: String::new(),
            avatar_key: None,
            post_count: 0,
            follower_count: 0,
            following_count: 0,
            created_at: Utc::now(),
        }
    }

    /// One mock per port; the tests set expectations on those they need.
    #[derive(Default)]
    pub(crate) struct Mocks {
        pub accounts: MockAccountRepository,
        pub sessions: MockSessionRepository,
        pub follows: MockFollowRepository,
        pub posts: MockPostRepository,
        pub likes: MockLikeRepository,
        pub comments: MockCommentRepository,
        pub feed: MockFeedRepository,
        pub media: MockMediaStore,
        pub images: MockImageProcessor,
        pub credentials: MockCredentials,
    }

    impl Mocks {
        pub(crate) fn new() -> Self {
            Self::default()
        }

        pub(crate) fn ports(self) -> Ports {
            Ports {
                accounts: Arc::new(self.accounts),
                sessions: Arc::new(self.sessions),
                follows: Arc::new(self.follows),
                posts: Arc::new(self.posts),
                likes: Arc::new(self.likes),
                comments: Arc::new(self.comments),
                feed: Arc::new(self.feed),
                media: Arc::new(self.media),
                images: Arc::new(self.images),
                credentials: Arc::new(self.credentials),
                health: Arc::new(MockHealthCheck::new()),
            }
        }

        pub(crate) fn accounts(self) -> AccountService {
            AccountService::new(&self.ports())
        }

        pub(crate) fn sessions(self) -> SessionService {
            SessionService::new(&self.ports())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UserRef;
    use crate::model::UserId;

    #[test]
    fn user_ref_digits_are_ids() {
        assert_eq!(UserRef::parse("42"), UserRef::Id(UserId::new(42)));
        assert_eq!(
            UserRef::parse("99999999999999999999"),
            UserRef::Id(UserId::new(-1))
        );
        assert_eq!(UserRef::parse("a@b.c"), UserRef::Email("a@b.c".into()));
        assert_eq!(UserRef::parse("4a"), UserRef::Email("4a".into()));
    }
}

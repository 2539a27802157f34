use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Ports, UserRef, resolve_user};
use crate::model::{ImagePurpose, Post, Relationship, User, UserId};
use crate::pagination::{Page, PageRequest};
use crate::ports::{
    Credentials, ImageProcessor, MediaStore, NewUser, PostRepository, ProfileChanges, StoredToken,
    TokenRepository, UserRepository,
};
use crate::values::{Bio, Email, FullName, Password};
use crate::{DomainError, FieldErrors, Result};

#[derive(Debug, Clone, Default)]
pub struct SignupInput {
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct LoginInput {
    pub email: Option<String>,
    pub password: Option<String>,
}

/// A profile change as a client sent it; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub full_name: Option<String>,
    pub bio: Option<String>,
    pub password: Option<String>,
    pub current_password: Option<String>,
    pub avatar: Option<Vec<u8>>,
}

/// A user as one viewer sees them.
#[derive(Debug, Clone)]
pub struct Profile {
    pub user: User,
    /// Present for an authenticated viewer.
    pub relationship: Option<Relationship>,
    /// The first page of the user's posts, for an authenticated viewer.
    pub posts: Option<Page<Post>>,
}

/// How long a login token lives: it expires when it has gone unused for `idle`, or when it is
/// older than `absolute`, whichever comes first. Both are measured against the stored
/// timestamps at each use, so changing them applies to existing tokens too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    pub idle: Duration,
    pub absolute: Duration,
}

impl TokenLifetimes {
    pub const DEFAULT_IDLE: Duration = Duration::from_secs(30 * 24 * 3600);
    pub const DEFAULT_ABSOLUTE: Duration = Duration::from_secs(365 * 24 * 3600);
    /// The longest a recorded last use may lag the real one.
    pub const MAX_TOUCH_INTERVAL: Duration = Duration::from_secs(3600);

    /// How old the recorded last use of a token may get before a request with it records a new
    /// one: a hundredth of the idle lifetime, at most an hour. Recording every use would make
    /// every authenticated read a write; this way a token in constant use is written about once
    /// an hour, and an idle token expires at most this much before `idle` after its real last
    /// use.
    pub fn touch_interval(&self) -> Duration {
        (self.idle / 100).min(Self::MAX_TOUCH_INTERVAL)
    }

    /// Whether the token is past either lifetime at `now` (strictly: a token exactly `idle` old
    /// still works).
    pub fn is_expired(&self, token: &StoredToken, now: DateTime<Utc>) -> bool {
        token.created_at < before(now, self.absolute) || token.last_used_at < before(now, self.idle)
    }

    /// The cut-offs of [`TokenRepository::delete_expired`] at `now`: tokens issued before the
    /// first or last used before the second are expired.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        (before(now, self.absolute), before(now, self.idle))
    }
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            idle: Self::DEFAULT_IDLE,
            absolute: Self::DEFAULT_ABSOLUTE,
        }
    }
}

/// `now - span`, or the earliest instant chrono has when that is out of range (a lifetime of
/// millions of years: nothing expires).
fn before(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(span)
        .ok()
        .and_then(|span| now.checked_sub_signed(span))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Sign-up, login and tokens, profiles, account deletion.
#[derive(Clone)]
pub struct AccountService {
    users: Arc<dyn UserRepository>,
    tokens: Arc<dyn TokenRepository>,
    posts: Arc<dyn PostRepository>,
    credentials: Arc<dyn Credentials>,
    images: Arc<dyn ImageProcessor>,
    media: Arc<dyn MediaStore>,
    lifetimes: TokenLifetimes,
}

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

impl AccountService {
    pub fn new(ports: &Ports) -> Self {
        Self {
            users: ports.users.clone(),
            tokens: ports.tokens.clone(),
            posts: ports.posts.clone(),
            credentials: ports.credentials.clone(),
            images: ports.images.clone(),
            media: ports.media.clone(),
            lifetimes: TokenLifetimes::default(),
        }
    }

    /// The service with tokens living as long as `lifetimes` says (the default: 30 days idle,
    /// a year in all).
    #[must_use]
    pub fn with_token_lifetimes(mut self, lifetimes: TokenLifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    pub fn token_lifetimes(&self) -> TokenLifetimes {
        self.lifetimes
    }

    /// # Errors
    /// `Validation` for bad fields, `Conflict("email_taken")`.
    pub async fn signup(&self, input: SignupInput) -> Result<User> {
        let mut errors = FieldErrors::default();
        let email = required(&mut errors, "email", &input.email)
            .and_then(|v| errors.check("email", Email::parse(v)));
        let full_name = required(&mut errors, "full_name", &input.full_name)
            .and_then(|v| errors.check("full_name", FullName::parse(v)));
        let password = required(&mut errors, "password", &input.password)
            .and_then(|v| errors.check("password", Password::parse(v)));
        let (Some(email), Some(full_name), Some(password)) = (email, full_name, password) else {
            return Err(DomainError::Validation(errors));
        };
        let password_hash = self
            .credentials
            .hash_password(password.into_inner())
            .await?;
        self.users
            .create(NewUser {
                email,
                full_name,
                password_hash,
            })
            .await
    }

    /// Checks the credentials and issues a new token. Unknown email and wrong password get the same
    /// error after the same hashing work.
    ///
    /// # Errors
    /// `Validation` for missing fields, `InvalidCredentials`.
    pub async fn login(&self, input: LoginInput) -> Result<(String, User)> {
        let mut errors = FieldErrors::default();
        let email = required(&mut errors, "email", &input.email).map(str::trim);
        let password = required(&mut errors, "password", &input.password);
        if email.is_some_and(|e| e.contains('\0')) {
            errors.add("email", "Email may not contain NUL characters.");
        }
        if let Some(p) = password
            && p.chars().count() > Password::MAX_CHARS
        {
            errors.add("password", "Password must have at most 1024 characters.");
        }
        errors.into_result()?;
        let (Some(email), Some(password)) = (email, password) else {
            return Err(DomainError::InvalidCredentials);
        };
        let stored = self.users.credentials_by_email(email).await?;
        let hash = stored.as_ref().map(|s| s.password_hash.clone());
        let valid = self
            .credentials
            .verify_password(password.to_owned(), hash)
            .await?;
        let user = match stored {
            Some(stored) if valid => stored.user,
            _ => return Err(DomainError::InvalidCredentials),
        };
        let token = self.credentials.issue_token();
        self.tokens.insert(user.id, token.hash).await?;
        Ok((token.secret, user))
    }

    /// The user who owns this token. Records the use when the one recorded is older than
    /// [`TokenLifetimes::touch_interval`], so most requests only read.
    ///
    /// # Errors
    /// `Unauthenticated` if the token is unknown or revoked, `TokenExpired` if it is past its idle
    /// or absolute lifetime (it stays stored until [`Self::delete_expired_tokens`] removes it).
    pub async fn authenticate(&self, secret: &str) -> Result<User> {
        let hash = self.credentials.hash_token(secret);
        let token = self
            .tokens
            .find(hash.clone())
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        let now = Utc::now();
        if self.lifetimes.is_expired(&token, now) {
            return Err(DomainError::TokenExpired);
        }
        let stale = before(now, self.lifetimes.touch_interval());
        if token.last_used_at < stale {
            // Best effort: a use that could not be recorded only brings the idle expiry of this
            // token closer by one interval, and the next request tries again. The adapter logs
            // the failure.
            let _ = self.tokens.touch(hash, now, stale).await;
        }
        Ok(token.user)
    }

    pub async fn logout(&self, secret: &str) -> Result<()> {
        self.tokens
            .revoke(self.credentials.hash_token(secret))
            .await
    }

    /// Revokes every token of the user, the one of this request included.
    pub async fn logout_everywhere(&self, me: UserId) -> Result<()> {
        self.tokens.revoke_all(me).await.map(|_| ())
    }

    /// Deletes up to `limit` expired tokens; returns how many. Call it again while it returns
    /// `limit`.
    pub async fn delete_expired_tokens(&self, limit: u64) -> Result<u64> {
        let (created_before, used_before) = self.lifetimes.cutoffs(Utc::now());
        self.tokens
            .delete_expired(created_before, used_before, limit)
            .await
    }

    /// With a viewer, the profile embeds the page `posts` of the user's posts (the HTTP layer asks
    /// for the first page at the configured default size).
    ///
    /// # Errors
    /// `NotFound("user")`.
    pub async fn profile(
        &self,
        user: &UserRef,
        viewer: Option<UserId>,
        posts: PageRequest,
    ) -> Result<Profile> {
        let user = resolve_user(self.users.as_ref(), user).await?;
        let (relationship, posts) = match viewer {
            Some(viewer) => {
                let relationship = self
                    .users
                    .relationships(viewer, vec![user.id])
                    .await?
                    .pop()
                    .unwrap_or_default();
                let posts = self.posts.by_author(user.id, viewer, posts).await?;
                (Some(relationship), Some(posts))
            }
            None => (None, None),
        };
        Ok(Profile {
            user,
            relationship,
            posts,
        })
    }

    /// Changes the caller's own profile. A new password revokes every token of the user except
    /// `token`, the one the caller presented, in the same transaction.
    ///
    /// # Errors
    /// `NotFound("user")`, `Forbidden` for someone else's profile, `Validation`, and the image
    /// errors of [`ImageProcessor::process`] for an avatar.
    pub async fn update_profile(
        &self,
        me: UserId,
        token: &str,
        target: &UserRef,
        update: ProfileUpdate,
    ) -> Result<User> {
        let target = resolve_user(self.users.as_ref(), target).await?;
        if target.id != me {
            return Err(DomainError::Forbidden(
                "You may only change your own profile.",
            ));
        }
        let mut errors = FieldErrors::default();
        let mut changes = ProfileChanges {
            full_name: update
                .full_name
                .as_deref()
                .and_then(|v| errors.check("full_name", FullName::parse(v))),
            bio: update
                .bio
                .as_deref()
                .and_then(|v| errors.check("bio", Bio::parse(v))),
            ..ProfileChanges::default()
        };
        let new_password = update
            .password
            .as_deref()
            .and_then(|v| errors.check("password", Password::parse(v)));
        if update.password.is_some() && update.current_password.is_none() {
            errors.add(
                "current_password",
                "This field is required to change the password.",
            );
        }
        if let Some(current) = &update.current_password
            && current.chars().count() > Password::MAX_CHARS
        {
            errors.add("current_password", "Wrong password.");
        }
        errors.into_result()?;

        if let (Some(new_password), Some(current)) = (new_password, update.current_password) {
            let stored = self
                .users
                .credentials_by_id(me)
                .await?
                .ok_or(DomainError::NotFound("user"))?;
            let valid = self
                .credentials
                .verify_password(current, Some(stored.password_hash))
                .await?;
            if !valid {
                return Err(DomainError::validation(
                    "current_password",
                    "Wrong password.",
                ));
            }
            changes.password_hash = Some(
                self.credentials
                    .hash_password(new_password.into_inner())
                    .await?,
            );
            changes.keep_token = Some(self.credentials.hash_token(token));
        }

        if let Some(bytes) = update.avatar {
            let processed = self.images.process(bytes, ImagePurpose::Avatar).await?;
            let key = self
                .media
                .put(processed.display.bytes, processed.display.format)
                .await?;
            changes.avatar_key = Some(key);
        }
        if changes.is_empty() {
            return Ok(target);
        }
        let new_avatar = changes.avatar_key.clone();
        match self.users.update_profile(me, changes).await {
            Ok(updated) => {
                if let Some(old) = updated.replaced_avatar {
                    self.discard_media(vec![old]).await;
                }
                Ok(updated.user)
            }
            Err(err) => {
                if let Some(key) = new_avatar {
                    self.discard_media(vec![key]).await;
                }
                Err(err)
            }
        }
    }

    /// Deletes the caller's own account and everything it owns.
    ///
    /// # Errors
    /// `NotFound("user")`, `Forbidden` for someone else's account.
    pub async fn delete_account(&self, me: UserId, target: &UserRef) -> Result<()> {
        let target = resolve_user(self.users.as_ref(), target).await?;
        if target.id != me {
            return Err(DomainError::Forbidden(
                "You may only delete your own account.",
            ));
        }
        let removed = self.users.delete(me).await?;
        self.discard_media(removed.keys).await;
        Ok(())
    }

    /// Removes files whose rows are gone. A failure here leaves an orphan file, never a broken
    /// row, so it is logged by the adapter and not reported to the client.
    async fn discard_media(&self, keys: Vec<String>) {
        if !keys.is_empty() {
            let _ = self.media.delete(keys).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IssuedToken;
    use crate::ports::{
        MockCredentials, MockImageProcessor, MockMediaStore, MockPostRepository,
        MockTokenRepository, MockUserRepository, StoredCredentials,
    };

    fn user(id: UserId) -> User {
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

    struct Mocks {
        users: MockUserRepository,
        tokens: MockTokenRepository,
        credentials: MockCredentials,
    }

    impl Mocks {
        fn new() -> Self {
            Self {
                users: MockUserRepository::new(),
                tokens: MockTokenRepository::new(),
                credentials: MockCredentials::new(),
            }
        }

        fn service(self) -> AccountService {
            AccountService {
                users: Arc::new(self.users),
                tokens: Arc::new(self.tokens),
                posts: Arc::new(MockPostRepository::new()),
                credentials: Arc::new(self.credentials),
                images: Arc::new(MockImageProcessor::new()),
                media: Arc::new(MockMediaStore::new()),
                lifetimes: TokenLifetimes::default(),
            }
        }
    }

    #[tokio::test]
    async fn signup_reports_every_bad_field_and_hashes_nothing() {
        let svc = Mocks::new().service();
        let err = svc
            .signup(SignupInput {
                email: Some("nope".into()),
                full_name: None,
                password: Some("short".into()),
            })
            .await
            .err();
        let Some(DomainError::Validation(errors)) = err else {
            panic!("expected a validation error, got {err:?}");
        };
        let fields: Vec<_> = errors.iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["email", "full_name", "password"]);
    }

    #[tokio::test]
    async fn login_with_unknown_email_spends_a_verification_and_fails_like_a_wrong_password() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_credentials_by_email()
            .returning(|_| Ok(None));
        mocks
            .credentials
            .expect_verify_password()
            .withf(|_, hash| hash.is_none())
            .times(1)
            .returning(|_, _| Ok(false));
        let err = mocks
            .service()
            .login(LoginInput {
                email: Some("ghost@example.com".into()),
                password: Some("whatever-password".into()),
            })
            .await
            .err();
        assert!(matches!(err, Some(DomainError::InvalidCredentials)));
    }

    #[tokio::test]
    async fn login_stores_only_the_token_hash() {
        let mut mocks = Mocks::new();
        mocks.users.expect_credentials_by_email().returning(|_| {
            Ok(Some(StoredCredentials {
                user: user(5),
                password_hash: "h".into(),
            }))
        });
        mocks
            .credentials
            .expect_verify_password()
            .returning(|_, _| Ok(true));
        mocks
            .credentials
            .expect_issue_token()
            .returning(|| IssuedToken {
                secret: "secret".into(),
                hash: vec![1, 2, 3],
            });
        mocks
            .tokens
            .expect_insert()
            .withf(|user, hash| *user == 5 && hash == &[1, 2, 3])
            .times(1)
            .returning(|_, _| Ok(()));
        let (secret, logged_in) = mocks
            .service()
            .login(LoginInput {
                email: Some("u5@example.com".into()),
                password: Some("right-password".into()),
            })
            .await
            .unwrap_or_else(|e| panic!("login failed: {e}"));
        assert_eq!(secret, "secret");
        assert_eq!(logged_in.id, 5);
    }

    #[tokio::test]
    async fn over_long_login_password_is_refused_before_hashing() {
        let svc = Mocks::new().service();
        let err = svc
            .login(LoginInput {
                email: Some("a@b.c".into()),
                password: Some("x".repeat(1025)),
            })
            .await
            .err();
        assert!(matches!(err, Some(DomainError::Validation(_))));
    }

    #[tokio::test]
    async fn someone_elses_profile_is_forbidden() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_by_id()
            .returning(|id| Ok(Some(user(id))));
        let err = mocks
            .service()
            .update_profile(1, "token", &UserRef::Id(2), ProfileUpdate::default())
            .await
            .err();
        assert!(matches!(err, Some(DomainError::Forbidden(_))));
    }

    #[tokio::test]
    async fn password_change_needs_the_current_password() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_by_id()
            .returning(|id| Ok(Some(user(id))));
        let err = mocks
            .service()
            .update_profile(
                1,
                "token",
                &UserRef::Id(1),
                ProfileUpdate {
                    password: Some("a-new-password".into()),
                    ..ProfileUpdate::default()
                },
            )
            .await
            .err();
        let Some(DomainError::Validation(errors)) = err else {
            panic!("expected a validation error");
        };
        assert!(errors.iter().any(|(f, _)| f == "current_password"));
    }

    const DAY: i64 = 24 * 3600;

    fn stored(id: UserId, created_ago: i64, used_ago: i64) -> StoredToken {
        let now = Utc::now();
        StoredToken {
            user: user(id),
            created_at: now - TimeDelta::seconds(created_ago),
            last_used_at: now - TimeDelta::seconds(used_ago),
        }
    }

    /// Mocks whose token secret "secret" hashes to [7] and is stored as `token`.
    fn with_token(token: Option<StoredToken>) -> Mocks {
        let mut mocks = Mocks::new();
        mocks
            .credentials
            .expect_hash_token()
            .withf(|secret| secret == "secret")
            .returning(|_| vec![7]);
        mocks
            .tokens
            .expect_find()
            .withf(|hash| hash == &[7])
            .times(1)
            .returning(move |_| Ok(token.clone()));
        mocks
    }

    #[tokio::test]
    async fn an_unknown_token_is_unauthenticated() {
        let err = with_token(None)
            .service()
            .authenticate("secret")
            .await
            .err();
        assert!(matches!(err, Some(DomainError::Unauthenticated)), "{err:?}");
    }

    #[tokio::test]
    async fn a_token_past_its_absolute_lifetime_is_expired_even_if_used_just_now() {
        let mut mocks = with_token(Some(stored(3, 366 * DAY, 60)));
        mocks.tokens.expect_touch().never();
        let err = mocks.service().authenticate("secret").await.err();
        assert!(matches!(err, Some(DomainError::TokenExpired)), "{err:?}");
    }

    #[tokio::test]
    async fn a_token_unused_for_longer_than_the_idle_lifetime_is_expired() {
        let mut mocks = with_token(Some(stored(3, 40 * DAY, 31 * DAY)));
        mocks.tokens.expect_touch().never();
        let err = mocks.service().authenticate("secret").await.err();
        assert!(matches!(err, Some(DomainError::TokenExpired)), "{err:?}");
    }

    #[tokio::test]
    async fn the_lifetimes_are_the_configured_ones() {
        let short = TokenLifetimes {
            idle: Duration::from_secs(60),
            absolute: Duration::from_secs(120),
        };
        let svc = with_token(Some(stored(3, 90, 61)))
            .service()
            .with_token_lifetimes(short);
        let err = svc.authenticate("secret").await.err();
        assert!(matches!(err, Some(DomainError::TokenExpired)), "{err:?}");
        let mut mocks = with_token(Some(stored(3, 130, 1)));
        mocks.tokens.expect_touch().never();
        let err = mocks
            .service()
            .with_token_lifetimes(short)
            .authenticate("secret")
            .await
            .err();
        assert!(matches!(err, Some(DomainError::TokenExpired)), "{err:?}");
    }

    #[tokio::test]
    async fn a_recent_use_is_not_written_again() {
        let mut mocks = with_token(Some(stored(3, 10 * DAY, 5 * 60)));
        mocks.tokens.expect_touch().never();
        let found = mocks.service().authenticate("secret").await;
        assert_eq!(found.map(|u| u.id).ok(), Some(3));
    }

    #[tokio::test]
    async fn a_stale_use_is_recorded_once_with_the_threshold() {
        let mut mocks = with_token(Some(stored(3, 10 * DAY, 2 * 3600)));
        mocks
            .tokens
            .expect_touch()
            .withf(|hash, used_at, if_before| {
                hash == &[7]
                    && *used_at - *if_before == TimeDelta::hours(1)
                    && (Utc::now() - *used_at) < TimeDelta::minutes(1)
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let found = mocks.service().authenticate("secret").await;
        assert_eq!(found.map(|u| u.id).ok(), Some(3));
    }

    #[tokio::test]
    async fn a_failed_touch_does_not_fail_the_request() {
        let mut mocks = with_token(Some(stored(3, 10 * DAY, 2 * 3600)));
        mocks
            .tokens
            .expect_touch()
            .times(1)
            .returning(|_, _, _| Err(DomainError::Unavailable("down".into())));
        let found = mocks.service().authenticate("secret").await;
        assert_eq!(found.map(|u| u.id).ok(), Some(3));
    }

    #[test]
    fn touch_interval_is_a_hundredth_of_idle_at_most_an_hour() {
        assert_eq!(
            TokenLifetimes::default().touch_interval(),
            Duration::from_secs(3600)
        );
        let short = TokenLifetimes {
            idle: Duration::from_secs(2),
            absolute: Duration::from_secs(10),
        };
        assert_eq!(short.touch_interval(), Duration::from_millis(20));
    }

    #[test]
    fn lifetimes_beyond_any_date_expire_nothing() {
        let forever = TokenLifetimes {
            idle: Duration::from_secs(u64::MAX / 4),
            absolute: Duration::from_secs(u64::MAX / 4),
        };
        let (created_before, used_before) = forever.cutoffs(Utc::now());
        assert_eq!(created_before, DateTime::<Utc>::MIN_UTC);
        assert_eq!(used_before, DateTime::<Utc>::MIN_UTC);
        assert!(!forever.is_expired(&stored(1, 1000 * 365 * DAY, 1000 * 365 * DAY), Utc::now()));
    }

    #[tokio::test]
    async fn the_sweep_asks_for_tokens_past_either_lifetime() {
        let mut mocks = Mocks::new();
        mocks
            .tokens
            .expect_delete_expired()
            .withf(|created_before, used_before, limit| {
                let now = Utc::now();
                let near = |at: &DateTime<Utc>, days: i64| {
                    (now - TimeDelta::days(days) - *at).abs() < TimeDelta::minutes(1)
                };
                near(created_before, 365) && near(used_before, 30) && *limit == 1000
            })
            .times(1)
            .returning(|_, _, _| Ok(12));
        let deleted = mocks.service().delete_expired_tokens(1000).await;
        assert_eq!(deleted.ok(), Some(12));
    }

    #[tokio::test]
    async fn logout_everywhere_revokes_every_token_of_the_caller() {
        let mut mocks = Mocks::new();
        mocks
            .tokens
            .expect_revoke_all()
            .withf(|user| *user == 4)
            .times(1)
            .returning(|_| Ok(3));
        assert!(mocks.service().logout_everywhere(4).await.is_ok());
    }

    /// Mocks for a password change of user 1, presenting the token "mine" (hashed to [1]).
    fn password_change() -> Mocks {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_by_id()
            .returning(|id| Ok(Some(user(id))));
        mocks.users.expect_credentials_by_id().returning(|id| {
            Ok(Some(StoredCredentials {
                user: user(id),
                password_hash: "old-hash".into(),
            }))
        });
        mocks
            .credentials
            .expect_verify_password()
            .returning(|_, _| Ok(true));
        mocks
            .credentials
            .expect_hash_password()
            .returning(|_| Ok("new-hash".into()));
        mocks
            .credentials
            .expect_hash_token()
            .withf(|secret| secret == "mine")
            .returning(|_| vec![1]);
        mocks
    }

    #[tokio::test]
    async fn a_password_change_keeps_only_the_token_it_was_made_with() {
        let mut mocks = password_change();
        mocks
            .users
            .expect_update_profile()
            .withf(|id, changes| {
                *id == 1
                    && changes.password_hash.as_deref() == Some("new-hash")
                    && changes.keep_token.as_deref() == Some(&[1][..])
            })
            .times(1)
            .returning(|id, _| {
                Ok(crate::ports::UpdatedProfile {
                    user: user(id),
                    replaced_avatar: None,
                })
            });
        let updated = mocks
            .service()
            .update_profile(
                1,
                "mine",
                &UserRef::Id(1),
                ProfileUpdate {
                    password: Some("a-new-password".into()),
                    current_password: Some("the-old-password".into()),
                    ..ProfileUpdate::default()
                },
            )
            .await;
        assert_eq!(updated.map(|u| u.id).ok(), Some(1));
    }

    #[tokio::test]
    async fn a_wrong_current_password_changes_nothing_and_revokes_nothing() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_by_id()
            .returning(|id| Ok(Some(user(id))));
        mocks.users.expect_credentials_by_id().returning(|id| {
            Ok(Some(StoredCredentials {
                user: user(id),
                password_hash: "old-hash".into(),
            }))
        });
        mocks
            .credentials
            .expect_verify_password()
            .returning(|_, _| Ok(false));
        mocks.users.expect_update_profile().never();
        mocks.tokens.expect_revoke_all().never();
        let err = mocks
            .service()
            .update_profile(
                1,
                "mine",
                &UserRef::Id(1),
                ProfileUpdate {
                    password: Some("a-new-password".into()),
                    current_password: Some("not-the-password".into()),
                    ..ProfileUpdate::default()
                },
            )
            .await
            .err();
        assert!(matches!(err, Some(DomainError::Validation(_))), "{err:?}");
    }

    #[tokio::test]
    async fn a_profile_change_without_a_password_revokes_nothing() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_by_id()
            .returning(|id| Ok(Some(user(id))));
        mocks
            .users
            .expect_update_profile()
            .withf(|_, changes| changes.password_hash.is_none() && changes.keep_token.is_none())
            .times(1)
            .returning(|id, _| {
                Ok(crate::ports::UpdatedProfile {
                    user: user(id),
                    replaced_avatar: None,
                })
            });
        let updated = mocks
            .service()
            .update_profile(
                1,
                "mine",
                &UserRef::Id(1),
                ProfileUpdate {
                    bio: Some("hello".into()),
                    ..ProfileUpdate::default()
                },
            )
            .await;
        assert!(updated.is_ok());
    }
}

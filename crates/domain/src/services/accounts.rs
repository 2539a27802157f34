use std::sync::Arc;

use super::{Ports, UserRef, resolve_user};
use crate::model::{ImagePurpose, Post, Relationship, User, UserId};
use crate::pagination::{Page, PageRequest};
use crate::ports::{
    Credentials, ImageProcessor, MediaStore, NewUser, PostRepository, ProfileChanges,
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

/// Sign-up, login and tokens, profiles, account deletion.
#[derive(Clone)]
pub struct AccountService {
    users: Arc<dyn UserRepository>,
    tokens: Arc<dyn TokenRepository>,
    posts: Arc<dyn PostRepository>,
    credentials: Arc<dyn Credentials>,
    images: Arc<dyn ImageProcessor>,
    media: Arc<dyn MediaStore>,
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
        }
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

    /// The user who owns this token.
    ///
    /// # Errors
    /// `Unauthenticated` if the token is unknown or revoked.
    pub async fn authenticate(&self, secret: &str) -> Result<User> {
        let hash = self.credentials.hash_token(secret);
        self.tokens
            .user_for(hash)
            .await?
            .ok_or(DomainError::Unauthenticated)
    }

    pub async fn logout(&self, secret: &str) -> Result<()> {
        self.tokens
            .revoke(self.credentials.hash_token(secret))
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

    /// Changes the caller's own profile.
    ///
    /// # Errors
    /// `NotFound("user")`, `Forbidden` for someone else's profile, `Validation`, and the image
    /// errors of [`ImageProcessor::process`] for an avatar.
    pub async fn update_profile(
        &self,
        me: UserId,
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
    use chrono::Utc;

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
            .update_profile(1, &UserRef::Id(2), ProfileUpdate::default())
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
}

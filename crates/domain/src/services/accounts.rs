//! Accounts: sign-up, profiles and their changes, account deletion.

use std::sync::Arc;

use super::{Ports, UserRef, required, resolve_user};
use crate::Resource;
use crate::model::{ImagePurpose, Post, Relationship, User, UserId, with_webp_siblings};
use crate::pagination::{Page, PageRequest};
use crate::ports::{
    AccountRepository, Credentials, ImageProcessor, MediaStore, NewUser, PostRepository,
    ProfileChanges,
};
use crate::values::{Bio, Email, FullName, Password};
use crate::{DomainError, FieldErrors, Result};

#[derive(Debug, Clone, Default)]
pub struct SignupInput {
    pub email: Option<String>,
    pub full_name: Option<String>,
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

/// Sign-up, profiles and their changes, account deletion.
#[derive(Clone)]
pub struct AccountService {
    accounts: Arc<dyn AccountRepository>,
    posts: Arc<dyn PostRepository>,
    credentials: Arc<dyn Credentials>,
    images: Arc<dyn ImageProcessor>,
    media: Arc<dyn MediaStore>,
}

impl AccountService {
    pub fn new(ports: &Ports) -> Self {
        Self {
            accounts: ports.accounts.clone(),
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
        self.accounts
            .create(NewUser {
                email,
                full_name,
                password_hash,
            })
            .await
    }

    /// With a viewer, the profile embeds the page `posts` of the user's posts (the HTTP layer asks
    /// for the first page at the configured default size).
    ///
    /// # Errors
    /// `NotFound(Resource::User)`.
    pub async fn profile(
        &self,
        user: &UserRef,
        viewer: Option<UserId>,
        posts: PageRequest,
    ) -> Result<Profile> {
        let user = resolve_user(self.accounts.as_ref(), user).await?;
        let (relationship, posts) = match viewer {
            Some(viewer) => {
                let relationship = self
                    .accounts
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
    /// `NotFound(Resource::User)`, `Forbidden` for someone else's profile, `Validation`, and the image
    /// errors of [`ImageProcessor::process`] for an avatar.
    pub async fn update_profile(
        &self,
        me: UserId,
        token: &str,
        target: &UserRef,
        update: ProfileUpdate,
    ) -> Result<User> {
        let target = resolve_user(self.accounts.as_ref(), target).await?;
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
                .accounts
                .credentials_by_id(me)
                .await?
                .ok_or(DomainError::NotFound(Resource::User))?;
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
                .put(processed.display.bytes, processed.display.format, None)
                .await?;
            changes.avatar_key = Some(key);
        }
        if changes.is_empty() {
            return Ok(target);
        }
        let new_avatar = changes.avatar_key.clone();
        match self.accounts.update_profile(me, changes).await {
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
    /// `NotFound(Resource::User)`, `Forbidden` for someone else's account.
    pub async fn delete_account(&self, me: UserId, target: &UserRef) -> Result<()> {
        let target = resolve_user(self.accounts.as_ref(), target).await?;
        if target.id != me {
            return Err(DomainError::Forbidden(
                "You may only delete your own account.",
            ));
        }
        let removed = self.accounts.delete(me).await?;
        // Its posts' pictures may have WebP renditions beside them.
        self.discard_media(with_webp_siblings(removed.keys)).await;
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
    use crate::ports::StoredCredentials;
    use crate::services::testing::{Mocks, user};

    #[tokio::test]
    async fn signup_reports_every_bad_field_and_hashes_nothing() {
        let svc = Mocks::new().accounts();
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

    /// Mocks in which every user exists.
    fn mocks() -> Mocks {
        let mut mocks = Mocks::new();
        mocks
            .accounts
            .expect_find_by_id()
            .returning(|id| Ok(Some(user(id))));
        mocks
    }

    /// User 1, presenting the token "mine", changes the profile of user `target`.
    async fn update(mocks: Mocks, target: i64, update: ProfileUpdate) -> Result<User> {
        let target = UserRef::Id(UserId::new(target));
        let accounts = mocks.accounts();
        accounts
            .update_profile(UserId::new(1), "mine", &target, update)
            .await
    }

    /// What the adapter answers to a profile change that replaced no avatar.
    fn updated(id: UserId, _: ProfileChanges) -> Result<crate::ports::UpdatedProfile> {
        let user = user(id);
        Ok(crate::ports::UpdatedProfile {
            user,
            replaced_avatar: None,
        })
    }

    /// A new password, with the current one as given.
    fn new_password(current: Option<&str>) -> ProfileUpdate {
        ProfileUpdate {
            password: Some("a-new-password".into()),
            current_password: current.map(Into::into),
            ..ProfileUpdate::default()
        }
    }

    #[tokio::test]
    async fn someone_elses_profile_is_forbidden() {
        let err = update(mocks(), 2, ProfileUpdate::default()).await.err();
        assert!(matches!(err, Some(DomainError::Forbidden(_))));
    }

    #[tokio::test]
    async fn password_change_needs_the_current_password() {
        let err = update(mocks(), 1, new_password(None)).await.err();
        let Some(DomainError::Validation(errors)) = err else {
            panic!("expected a validation error");
        };
        assert!(errors.iter().any(|(f, _)| f == "current_password"));
    }

    /// Mocks for a password change of user 1 whose current password is `current_is_right`.
    fn password_change(current_is_right: bool) -> Mocks {
        let mut mocks = mocks();
        mocks.accounts.expect_credentials_by_id().returning(|id| {
            Ok(Some(StoredCredentials {
                user: user(id),
                password_hash: "old-hash".into(),
            }))
        });
        mocks
            .credentials
            .expect_verify_password()
            .returning(move |_, _| Ok(current_is_right));
        mocks
    }

    #[tokio::test]
    async fn a_password_change_keeps_only_the_token_it_was_made_with() {
        let mut mocks = password_change(true);
        mocks
            .credentials
            .expect_hash_password()
            .returning(|_| Ok("new-hash".into()));
        // The token "mine", hashed to [1].
        mocks
            .credentials
            .expect_hash_token()
            .withf(|secret| secret == "mine")
            .returning(|_| vec![1]);
        mocks
            .accounts
            .expect_update_profile()
            .withf(|id, changes| {
                *id == UserId::new(1)
                    && changes.password_hash.as_deref() == Some("new-hash")
                    && changes.keep_token.as_deref() == Some(&[1][..])
            })
            .times(1)
            .returning(updated);
        let updated = update(mocks, 1, new_password(Some("the-old-password"))).await;
        assert_eq!(updated.map(|u| u.id).ok(), Some(UserId::new(1)));
    }

    #[tokio::test]
    async fn a_wrong_current_password_changes_nothing_and_revokes_nothing() {
        let mut mocks = password_change(false);
        mocks.accounts.expect_update_profile().never();
        mocks.sessions.expect_revoke_all().never();
        let err = update(mocks, 1, new_password(Some("not-the-password")))
            .await
            .err();
        assert!(matches!(err, Some(DomainError::Validation(_))), "{err:?}");
    }

    #[tokio::test]
    async fn a_profile_change_without_a_password_revokes_nothing() {
        let mut mocks = mocks();
        mocks
            .accounts
            .expect_update_profile()
            .withf(|_, changes| changes.password_hash.is_none() && changes.keep_token.is_none())
            .times(1)
            .returning(updated);
        let bio = ProfileUpdate {
            bio: Some("hello".into()),
            ..ProfileUpdate::default()
        };
        assert!(update(mocks, 1, bio).await.is_ok());
    }
}

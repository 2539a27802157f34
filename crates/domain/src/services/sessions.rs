//! Logging in and out, and what a login token is worth: who it names, and until when.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Ports, required};
use crate::model::{User, UserId};
use crate::ports::{AccountRepository, Credentials, SessionRepository, StoredToken};
use crate::values::Password;
use crate::{DomainError, FieldErrors, Result};

#[derive(Debug, Clone, Default)]
pub struct LoginInput {
    pub email: Option<String>,
    pub password: Option<String>,
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

    /// The cut-offs of [`SessionRepository::delete_expired`] at `now`: tokens issued before the
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

/// Login, the tokens it issues, and logout.
#[derive(Clone)]
pub struct SessionService {
    accounts: Arc<dyn AccountRepository>,
    sessions: Arc<dyn SessionRepository>,
    credentials: Arc<dyn Credentials>,
    lifetimes: TokenLifetimes,
}

impl SessionService {
    pub fn new(ports: &Ports) -> Self {
        Self {
            accounts: ports.accounts.clone(),
            sessions: ports.sessions.clone(),
            credentials: ports.credentials.clone(),
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
        let stored = self.accounts.credentials_by_email(email).await?;
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
        self.sessions.insert(user.id, token.hash).await?;
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
            .sessions
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
            let _ = self.sessions.touch(hash, now, stale).await;
        }
        Ok(token.user)
    }

    pub async fn logout(&self, secret: &str) -> Result<()> {
        self.sessions
            .revoke(self.credentials.hash_token(secret))
            .await
    }

    /// Revokes every token of the user, the one of this request included.
    pub async fn logout_everywhere(&self, me: UserId) -> Result<()> {
        self.sessions.revoke_all(me).await.map(|_| ())
    }

    /// Deletes up to `limit` expired tokens; returns how many. Call it again while it returns
    /// `limit`.
    pub async fn delete_expired_tokens(&self, limit: u64) -> Result<u64> {
        let (created_before, used_before) = self.lifetimes.cutoffs(Utc::now());
        self.sessions
            .delete_expired(created_before, used_before, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IssuedToken;
    use crate::ports::StoredCredentials;
    use crate::services::testing::{Mocks, user};

    #[tokio::test]
    async fn login_with_unknown_email_spends_a_verification_and_fails_like_a_wrong_password() {
        let mut mocks = Mocks::new();
        mocks
            .accounts
            .expect_credentials_by_email()
            .returning(|_| Ok(None));
        mocks
            .credentials
            .expect_verify_password()
            .withf(|_, hash| hash.is_none())
            .times(1)
            .returning(|_, _| Ok(false));
        let err = mocks
            .sessions()
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
        mocks.accounts.expect_credentials_by_email().returning(|_| {
            Ok(Some(StoredCredentials {
                user: user(UserId::new(5)),
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
            .sessions
            .expect_insert()
            .withf(|user, hash| *user == UserId::new(5) && hash == &[1, 2, 3])
            .times(1)
            .returning(|_, _| Ok(()));
        let (secret, logged_in) = mocks
            .sessions()
            .login(LoginInput {
                email: Some("u5@example.com".into()),
                password: Some("right-password".into()),
            })
            .await
            .unwrap_or_else(|e| panic!("login failed: {e}"));
        assert_eq!(secret, "secret");
        assert_eq!(logged_in.id, UserId::new(5));
    }

    #[tokio::test]
    async fn over_long_login_password_is_refused_before_hashing() {
        let svc = Mocks::new().sessions();
        let err = svc
            .login(LoginInput {
                email: Some("a@b.c".into()),
                password: Some("x".repeat(1025)),
            })
            .await
            .err();
        assert!(matches!(err, Some(DomainError::Validation(_))));
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
            .sessions
            .expect_find()
            .withf(|hash| hash == &[7])
            .times(1)
            .returning(move |_| Ok(token.clone()));
        mocks
    }

    #[tokio::test]
    async fn an_unknown_token_is_unauthenticated() {
        let err = with_token(None)
            .sessions()
            .authenticate("secret")
            .await
            .err();
        assert!(matches!(err, Some(DomainError::Unauthenticated)), "{err:?}");
    }

    #[tokio::test]
    async fn a_token_past_its_absolute_lifetime_is_expired_even_if_used_just_now() {
        let mut mocks = with_token(Some(stored(UserId::new(3), 366 * DAY, 60)));
        mocks.sessions.expect_touch().never();
        let err = mocks.sessions().authenticate("secret").await.err();
        assert!(matches!(err, Some(DomainError::TokenExpired)), "{err:?}");
    }

    #[tokio::test]
    async fn a_token_unused_for_longer_than_the_idle_lifetime_is_expired() {
        let mut mocks = with_token(Some(stored(UserId::new(3), 40 * DAY, 31 * DAY)));
        mocks.sessions.expect_touch().never();
        let err = mocks.sessions().authenticate("secret").await.err();
        assert!(matches!(err, Some(DomainError::TokenExpired)), "{err:?}");
    }

    #[tokio::test]
    async fn the_lifetimes_are_the_configured_ones() {
        let short = TokenLifetimes {
            idle: Duration::from_secs(60),
            absolute: Duration::from_secs(120),
        };
        let svc = with_token(Some(stored(UserId::new(3), 90, 61)))
            .sessions()
            .with_token_lifetimes(short);
        let err = svc.authenticate("secret").await.err();
        assert!(matches!(err, Some(DomainError::TokenExpired)), "{err:?}");
        let mut mocks = with_token(Some(stored(UserId::new(3), 130, 1)));
        mocks.sessions.expect_touch().never();
        let err = mocks
            .sessions()
            .with_token_lifetimes(short)
            .authenticate("secret")
            .await
            .err();
        assert!(matches!(err, Some(DomainError::TokenExpired)), "{err:?}");
    }

    #[tokio::test]
    async fn a_recent_use_is_not_written_again() {
        let mut mocks = with_token(Some(stored(UserId::new(3), 10 * DAY, 5 * 60)));
        mocks.sessions.expect_touch().never();
        let found = mocks.sessions().authenticate("secret").await;
        assert_eq!(found.map(|u| u.id).ok(), Some(UserId::new(3)));
    }

    #[tokio::test]
    async fn a_stale_use_is_recorded_once_with_the_threshold() {
        let mut mocks = with_token(Some(stored(UserId::new(3), 10 * DAY, 2 * 3600)));
        mocks
            .sessions
            .expect_touch()
            .withf(|hash, used_at, if_before| {
                hash == &[7]
                    && *used_at - *if_before == TimeDelta::hours(1)
                    && (Utc::now() - *used_at) < TimeDelta::minutes(1)
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let found = mocks.sessions().authenticate("secret").await;
        assert_eq!(found.map(|u| u.id).ok(), Some(UserId::new(3)));
    }

    #[tokio::test]
    async fn a_failed_touch_does_not_fail_the_request() {
        let mut mocks = with_token(Some(stored(UserId::new(3), 10 * DAY, 2 * 3600)));
        mocks
            .sessions
            .expect_touch()
            .times(1)
            .returning(|_, _, _| Err(DomainError::Unavailable("down".into())));
        let found = mocks.sessions().authenticate("secret").await;
        assert_eq!(found.map(|u| u.id).ok(), Some(UserId::new(3)));
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
        assert!(!forever.is_expired(
            &stored(UserId::new(1), 1000 * 365 * DAY, 1000 * 365 * DAY),
            Utc::now()
        ));
    }

    #[tokio::test]
    async fn the_sweep_asks_for_tokens_past_either_lifetime() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
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
        let deleted = mocks.sessions().delete_expired_tokens(1000).await;
        assert_eq!(deleted.ok(), Some(12));
    }

    #[tokio::test]
    async fn logout_everywhere_revokes_every_token_of_the_caller() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_revoke_all()
            .withf(|user| *user == UserId::new(4))
            .times(1)
            .returning(|_| Ok(3));
        assert!(
            mocks
                .sessions()
                .logout_everywhere(UserId::new(4))
                .await
                .is_ok()
        );
    }
}

//! The one error type of the domain. Every port and service returns it; the HTTP layer maps each
//! variant to a status and a `{"detail", "code"}` body in exactly one place.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;
use std::sync::Arc;

pub type Result<T, E = DomainError> = std::result::Result<T, E>;

/// Validation messages by field name, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<&'static str, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &[String])> {
        self.0.iter().map(|(k, v)| (*k, v.as_slice()))
    }

    /// Records the error of a field's validation, keeping the value when it was valid.
    pub fn check<T>(&mut self, field: &'static str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    /// `Ok(())` when nothing was recorded, the validation error otherwise.
    pub fn into_result(self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(self))
        }
    }

    pub fn single(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    /// Input that breaks a field's rules; nothing was changed.
    #[error("the request has invalid fields")]
    Validation(FieldErrors),
    /// A request that is well-formed but asks for something the rules forbid (following yourself,
    /// sending an image where none is accepted, a picture over the pixel limit, ...).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// Wrong email or password; deliberately the same for both.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// No token, or a token that is unknown or revoked.
    #[error("authentication credentials were not provided or are invalid")]
    Unauthenticated,
    /// A token past its idle or its absolute lifetime: the client must log in again.
    #[error("the token has expired")]
    TokenExpired,
    /// Authenticated, but not allowed to touch this resource.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The resource does not exist.
    #[error("{0} not found")]
    NotFound(Resource),
    /// The change collides with existing state (an email already taken).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// A body over its size limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Bytes that are not one of the accepted image formats.
    #[error("the file is not a JPEG, PNG, WebP or GIF image")]
    UnsupportedMediaType,
    /// A backing store (database, media) cannot be reached right now; worth retrying.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The server has no room for this work now (its picture-processing budget is taken and the
    /// wait for it ran out); nothing was changed, and trying again shortly may succeed.
    #[error("{0}")]
    Overloaded(&'static str),
    /// A bug or an unexpected failure. The cause is for logs only, never for clients.
    #[error("internal error: {0}")]
    Internal(Cause),
}

impl DomainError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::single(field, message))
    }

    /// An internal error caused by `cause`, whose own causes (`source()`) are kept for the log.
    pub fn internal(cause: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::Internal(Cause(Arc::from(cause.into())))
    }

    /// A follow whose follower is its leader.
    /// A follow that would take its follower past the most follows one user may have.
    pub fn following_limit(max: i64) -> Self {
        Self::Conflict {
            code: "following_limit",
            detail: format!("You follow {max} accounts, the most allowed; unfollow one first."),
        }
    }

    pub fn cannot_follow_self() -> Self {
        Self::BadRequest {
            code: "cannot_follow_self",
            detail: "You cannot follow yourself.".into(),
        }
    }
}

/// What a [`DomainError::NotFound`] did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    User,
    Post,
    Comment,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::User => "user",
            Self::Post => "post",
            Self::Comment => "comment",
        })
    }
}

/// The cause of an internal error with its chain of sources, shared (`Arc`) so that one failure
/// of a batch can be handed to every request of it. `Display` shows the whole chain, outermost
/// first, as one log line: `database: connection reset: broken pipe`.
#[derive(Debug, Clone)]
pub struct Cause(Arc<dyn Error + Send + Sync>);

impl Cause {
    /// The cause and each of its sources, outermost first.
    pub fn chain(&self) -> impl Iterator<Item = &(dyn Error + 'static)> {
        let mut next: Option<&(dyn Error + 'static)> = Some(&*self.0);
        std::iter::from_fn(move || {
            let current = next?;
            next = current.source();
            Some(current)
        })
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, err) in self.chain().enumerate() {
            if i > 0 {
                f.write_str(": ")?;
            }
            write!(f, "{err}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot save the post")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn an_internal_error_shows_its_whole_chain() {
        let err = DomainError::internal(Outer(std::io::Error::other("disk full")));
        let DomainError::Internal(cause) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(cause.chain().count(), 2);
        assert_eq!(
            err.to_string(),
            "internal error: cannot save the post: disk full"
        );
        let shared = err.clone();
        assert_eq!(shared.to_string(), err.to_string());
    }

    #[test]
    fn not_found_names_the_resource() {
        assert_eq!(
            DomainError::NotFound(Resource::Post).to_string(),
            "post not found"
        );
    }
}

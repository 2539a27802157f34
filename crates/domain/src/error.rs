//! The one error type of the domain. Every port and service returns it; the HTTP layer maps each
//! variant to a status and a `{"detail", "code"}` body in exactly one place.

use std::collections::BTreeMap;

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
    /// The named resource does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
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
    /// A bug or an unexpected failure. The message is for logs only, never for clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::single(field, message))
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// A follow whose follower is its leader.
    pub fn cannot_follow_self() -> Self {
        Self::BadRequest {
            code: "cannot_follow_self",
            detail: "You cannot follow yourself.".into(),
        }
    }
}

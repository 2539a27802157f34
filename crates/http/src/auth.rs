//! Token authentication: `Authorization: Token <key>` (the DRF form) or `Bearer <key>`, with the
//! scheme matched case-insensitively.

use std::fmt;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use being_social_domain::model::User;
use futures_util::future::LocalBoxFuture;

use crate::AppState;
use crate::error::ApiError;
use being_social_domain::model::UserId;

/// The authenticated caller; a handler taking it answers `401` to anyone else.
pub struct AuthUser {
    pub user: User,
    /// The token the request was made with (logout revokes it).
    pub token: String,
}

impl fmt::Debug for AuthUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthUser")
            .field("user_id", &self.user.id)
            .field("token", &"***")
            .finish()
    }
}

/// The caller if a token was sent. No `Authorization` header (or one with another scheme, such as
/// `Basic`) is an anonymous caller; a token that is malformed or unknown is still a `401`.
#[derive(Debug)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl MaybeAuthUser {
    pub fn user_id(&self) -> Option<UserId> {
        self.0.as_ref().map(|auth| auth.user.id)
    }
}

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const MALFORMED: &str = "Invalid token header.";

#[derive(Debug, PartialEq, Eq)]
enum Presented {
    Nothing,
    Malformed,
    Token(String),
}

fn presented(req: &HttpRequest) -> Presented {
    presented_in(req.headers())
}

/// The token a request presents, if its `Authorization` header is a well-formed one.
pub(crate) fn presented_token(headers: &header::HeaderMap) -> Option<String> {
    match presented_in(headers) {
        Presented::Token(token) => Some(token),
        Presented::Nothing | Presented::Malformed => None,
    }
}

fn presented_in(headers: &header::HeaderMap) -> Presented {
    match headers.get(header::AUTHORIZATION) {
        None => Presented::Nothing,
        Some(value) => match value.to_str() {
            Ok(value) => parse_authorization(value),
            Err(_) => Presented::Malformed,
        },
    }
}

fn parse_authorization(value: &str) -> Presented {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !(scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")) {
        return Presented::Nothing;
    }
    let key = rest.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Presented::Malformed;
    }
    Presented::Token(key.to_owned())
}

async fn authenticate(
    state: Option<web::Data<AppState>>,
    token: String,
) -> Result<AuthUser, ApiError> {
    let state = state.ok_or_else(|| ApiError::internal("AppState is not registered"))?;
    let user = state.services.sessions.authenticate(&token).await?;
    Ok(AuthUser { user, token })
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let presented = presented(req);
        Box::pin(async move {
            match presented {
                Presented::Nothing => Err(ApiError::NotAuthenticated(NOT_PROVIDED)),
                Presented::Malformed => Err(ApiError::NotAuthenticated(MALFORMED)),
                Presented::Token(token) => authenticate(state, token).await,
            }
        })
    }
}

impl FromRequest for MaybeAuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    /// No credentials is an anonymous caller; anything else is read as [`AuthUser`] reads it.
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if matches!(presented(req), Presented::Nothing) {
            return Box::pin(async { Ok(Self(None)) });
        }
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move { user.await.map(|user| Self(Some(user))) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(
            parse_authorization("Token abc"),
            Presented::Token("abc".into())
        );
        assert_eq!(
            parse_authorization("bearer  abc "),
            Presented::Token("abc".into())
        );
        assert_eq!(
            parse_authorization("TOKEN abc"),
            Presented::Token("abc".into())
        );
        assert_eq!(parse_authorization("Token"), Presented::Malformed);
        assert_eq!(parse_authorization("Token a b"), Presented::Malformed);
        assert_eq!(
            parse_authorization("Basic dXNlcjpwYXNz"),
            Presented::Nothing
        );
    }

    #[actix_web::test]
    async fn missing_token_is_401() {
        let req = actix_web::test::TestRequest::default().to_http_request();
        let result = AuthUser::from_request(&req, &mut Payload::None).await;
        assert!(matches!(
            result,
            Err(ApiError::NotAuthenticated(NOT_PROVIDED))
        ));
        let anonymous = MaybeAuthUser::from_request(&req, &mut Payload::None).await;
        assert!(matches!(anonymous, Ok(MaybeAuthUser(None))));
    }

    #[actix_web::test]
    async fn malformed_token_is_401_even_when_optional() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Token"))
            .to_http_request();
        let result = MaybeAuthUser::from_request(&req, &mut Payload::None).await;
        assert!(matches!(result, Err(ApiError::NotAuthenticated(MALFORMED))));
    }
}

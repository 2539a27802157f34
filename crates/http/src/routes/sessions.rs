//! Sessions: `/accounts/login/`, `/accounts/logout/`, `/accounts/logout-all/`.

use actix_web::{HttpRequest, HttpResponse, web};
use being_social_domain::services::LoginInput;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{detached, resource};
use crate::AppState;
use crate::auth::AuthUser;
use crate::body;
use crate::dto::{LoginBody, Urls, UserBody};
use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/accounts/login/").route(web::post().to(login)))
        .service(resource("/accounts/logout/").route(web::post().to(logout)))
        .service(resource("/accounts/logout-all/").route(web::post().to(logout_all)));
}

#[derive(Deserialize, ToSchema)]
struct LoginRequest {
    #[schema(required = false)]
    email: Option<String>,
    /// DRF's login called the email `username`: accepted in place of `email`.
    #[schema(required = false)]
    username: Option<String>,
    #[schema(value_type = String)]
    password: Option<String>,
}

/// Log in: a new token
#[utoipa::path(post, path = "/accounts/login/", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, description = "A new token and the user", body = LoginBody),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)")))]
#[tracing::instrument(name = "login", skip_all)]
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let input: LoginRequest = body::read(&req, payload, state.limits.max_json_bytes).await?;
    let input = LoginInput {
        email: input.email.or(input.username),
        password: input.password,
    };
    let (token, user) = detached(async move { state.services.sessions.login(input).await }).await?;
    Ok(HttpResponse::Ok().json(LoginBody {
        token,
        user: UserBody::of_owner(user, None, &Urls::from_request(&req)),
    }))
}

/// Log out: revoke the token used
#[utoipa::path(post, path = "/accounts/logout/", tag = "accounts", security(("token" = []), ("bearer" = [])),
    responses((status = 204, description = "The token is revoked")))]
#[tracing::instrument(name = "logout", skip_all, fields(user_id = auth.user.id.get()))]
async fn logout(auth: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    detached(async move { state.services.sessions.logout(&auth.token).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Log out everywhere: revoke every token of the caller
///
/// The token used included; every device has to log in again.
#[utoipa::path(post, path = "/accounts/logout-all/", tag = "accounts", security(("token" = []), ("bearer" = [])),
    responses((status = 204, description = "Every token of the caller is revoked")))]
#[tracing::instrument(name = "logout_all", skip_all, fields(user_id = auth.user.id.get()))]
async fn logout_all(auth: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let me = auth.user.id;
    detached(async move { state.services.sessions.logout_everywhere(me).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

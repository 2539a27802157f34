//! Accounts: `/accounts/signup/`, `/accounts/me/`, and a profile at `/accounts/{user}/`.

use actix_web::{HttpRequest, HttpResponse, web};
use being_social_domain::pagination::PageRequest;
use being_social_domain::services::{ProfileUpdate, SignupInput, UserRef};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{UserPath, detached, resource};
use crate::AppState;
use crate::auth::{AuthUser, MaybeAuthUser};
use crate::body;
use crate::dto::{ProfileBody, Urls, UserBody};
use crate::error::ApiError;
use crate::multipart::{FormSpec, is_multipart, read_form};

/// `/accounts/{user}/` last: every fixed `/accounts/...` path (here and in the other features'
/// modules, registered before this one) must win over it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/accounts/signup/").route(web::post().to(signup)))
        .service(resource("/accounts/me/").route(web::get().to(me)))
        .service(
            resource("/accounts/{user}/")
                .route(web::get().to(profile))
                .route(web::patch().to(update_profile))
                .route(web::delete().to(delete_account)),
        );
}

#[derive(Deserialize, ToSchema)]
struct SignupRequest {
    /// Unique, case-insensitively.
    #[schema(value_type = String, format = Email)]
    email: Option<String>,
    /// 1 to 255 characters after trimming surrounding whitespace (the schema has no `maxLength`: it would count the whitespace).
    #[schema(value_type = String, min_length = 1)]
    full_name: Option<String>,
    #[schema(value_type = String, min_length = 8, max_length = 1024)]
    password: Option<String>,
}

/// Sign up
#[utoipa::path(post, path = "/accounts/signup/", tag = "accounts", request_body = SignupRequest,
    responses((status = 201, description = "The new user", body = UserBody),
        (status = 409, description = "The email is taken (`email_taken`)")))]
#[tracing::instrument(name = "signup", skip_all)]
async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let input: SignupRequest = body::read(&req, payload, state.limits.max_json_bytes).await?;
    let input = SignupInput {
        email: input.email,
        full_name: input.full_name,
        password: input.password,
    };
    let user = detached(async move { state.services.accounts.signup(input).await }).await?;
    Ok(HttpResponse::Created().json(UserBody::of_owner(user, None, &Urls::from_request(&req))))
}

/// The caller's own user
#[utoipa::path(get, path = "/accounts/me/", tag = "accounts", security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "The caller", body = UserBody)))]
#[tracing::instrument(name = "me", skip_all, fields(user_id = auth.user.id.get()))]
async fn me(req: HttpRequest, auth: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(UserBody::own(auth.user, &Urls::from_request(&req)))
}

/// A user's profile
///
/// An authenticated viewer also gets `is_following`, `follows_you` and `posts`, the first page of
/// the user's posts.
#[utoipa::path(get, path = "/accounts/{user}/", tag = "accounts", params(UserPath),
    security((), ("token" = []), ("bearer" = [])),
    responses((status = 200, description = "The user", body = ProfileBody)))]
#[tracing::instrument(name = "profile", skip_all, fields(user = %user))]
async fn profile(
    req: HttpRequest,
    viewer: MaybeAuthUser,
    state: web::Data<AppState>,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let profile = state
        .services
        .accounts
        .profile(
            &UserRef::parse(&user),
            viewer.user_id(),
            PageRequest::first_within(&state.limits.pages),
        )
        .await?;
    let body = ProfileBody::new(profile, viewer.user_id(), &Urls::from_request(&req));
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize, ToSchema)]
struct ProfileRequest {
    /// 1 to 255 characters after trimming surrounding whitespace (the schema has no `maxLength`: it would count the whitespace).
    #[schema(required = false, min_length = 1)]
    full_name: Option<String>,
    /// At most 255 characters after trimming surrounding whitespace (the schema has no `maxLength`: it would count the whitespace).
    #[schema(required = false)]
    bio: Option<String>,
    /// A new password; needs `current_password`.
    #[schema(required = false, min_length = 8, max_length = 1024)]
    password: Option<String>,
    #[schema(required = false)]
    current_password: Option<String>,
}

/// [`ProfileRequest`] as `multipart/form-data`, with a picture. Documentation only: `read_form`
/// reads these fields.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
struct ProfileForm {
    #[serde(flatten)]
    fields: ProfileRequest,
    /// A JPEG, PNG, WebP or GIF image; stored cropped square, without metadata.
    #[schema(value_type = Option<String>, format = Binary, required = false)]
    avatar: Option<Vec<u8>>,
}

const PROFILE_FORM: FormSpec = FormSpec {
    files: &["avatar"],
    texts: &["full_name", "bio", "password", "current_password"],
};

/// Change the caller's profile
///
/// JSON (or a url-encoded form) with the text fields, or multipart with the same fields and an
/// `avatar` file. A new password revokes every token of the user but the one used.
#[utoipa::path(patch, path = "/accounts/{user}/", tag = "accounts", params(UserPath),
    security(("token" = []), ("bearer" = [])),
    request_body(content((ProfileRequest = "application/json"), (ProfileForm = "multipart/form-data"))),
    responses((status = 200, description = "The updated user", body = UserBody),
        (status = 403, description = "Someone else's profile")))]
#[tracing::instrument(name = "update_profile", skip_all, fields(user = %user, user_id = auth.user.id.get()))]
async fn update_profile(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    user: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (update, held) = if is_multipart(&req) {
        let mut form = read_form(
            &req,
            payload,
            PROFILE_FORM,
            state.limits.max_upload_bytes,
            &state.uploads,
        )
        .await?;
        let update = ProfileUpdate {
            full_name: form.text("full_name"),
            bio: form.text("bio"),
            password: form.text("password"),
            current_password: form.text("current_password"),
            avatar: form.file("avatar")?,
        };
        (update, Some(form.into_reservation()))
    } else {
        let input: ProfileRequest = body::read(&req, payload, state.limits.max_json_bytes).await?;
        let update = ProfileUpdate {
            full_name: input.full_name,
            bio: input.bio,
            password: input.password,
            current_password: input.current_password,
            avatar: None,
        };
        (update, None)
    };
    let (me, token) = (auth.user.id, auth.token);
    let target = UserRef::parse(&user);
    let updated = detached(async move {
        let _held = held;
        state
            .services
            .accounts
            .update_profile(me, &token, &target, update)
            .await
    })
    .await?;
    Ok(HttpResponse::Ok().json(UserBody::own(updated, &Urls::from_request(&req))))
}

/// Delete the caller's account
///
/// With its posts, likes, comments, follows and tokens.
#[utoipa::path(delete, path = "/accounts/{user}/", tag = "accounts", params(UserPath),
    security(("token" = []), ("bearer" = [])),
    responses((status = 204, description = "The account is deleted"),
        (status = 403, description = "Someone else's account")))]
#[tracing::instrument(name = "delete_account", skip_all, fields(user = %user, user_id = auth.user.id.get()))]
async fn delete_account(
    auth: AuthUser,
    state: web::Data<AppState>,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let me = auth.user.id;
    let target = UserRef::parse(&user);
    detached(async move { state.services.accounts.delete_account(me, &target).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

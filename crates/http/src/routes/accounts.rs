//! `/accounts/...`: sign-up, login, profiles, follows.

use actix_web::{HttpRequest, HttpResponse, web};
use being_social_domain::model::UserId;
use being_social_domain::pagination::PageRequest;
use being_social_domain::services::{LoginInput, ProfileUpdate, SignupInput, UserRef};
use serde::Deserialize;

use super::{detached, post_page, resource, user_page};
use crate::AppState;
use crate::auth::{AuthUser, MaybeAuthUser};
use crate::body;
use crate::dto::{FollowBody, LoginBody, ProfileBody, Urls, UserBody};
use crate::error::ApiError;
use crate::multipart::{FormSpec, is_multipart, read_form};
use crate::pagination::PageParams;

/// Fixed paths first: they must win over `/accounts/{user}/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/accounts/signup/").route(web::post().to(signup)))
        .service(resource("/accounts/login/").route(web::post().to(login)))
        .service(resource("/accounts/logout/").route(web::post().to(logout)))
        .service(resource("/accounts/me/").route(web::get().to(me)))
        .service(
            resource("/accounts/follow/{id}/")
                .route(web::post().to(follow))
                .route(web::delete().to(unfollow)),
        )
        .service(
            resource("/accounts/remove-follower/{id}/").route(web::delete().to(remove_follower)),
        )
        .service(resource("/accounts/follower/{user}/").route(web::get().to(followers)))
        .service(resource("/accounts/following/{user}/").route(web::get().to(following)))
        .service(resource("/accounts/{user}/posts/").route(web::get().to(user_posts)))
        .service(
            resource("/accounts/{user}/")
                .route(web::get().to(profile))
                .route(web::patch().to(update_profile))
                .route(web::delete().to(delete_account)),
        );
}

#[derive(Deserialize)]
struct SignupRequest {
    email: Option<String>,
    full_name: Option<String>,
    password: Option<String>,
}

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
    let task = state.clone();
    let user = detached(async move { task.services.accounts.signup(input).await }).await?;
    Ok(HttpResponse::Created().json(UserBody::new(user, None, &Urls::from_request(&req))))
}

#[derive(Deserialize)]
struct LoginRequest {
    email: Option<String>,
    /// DRF's login called the email `username`.
    username: Option<String>,
    password: Option<String>,
}

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
    let task = state.clone();
    let (token, user) = detached(async move { task.services.accounts.login(input).await }).await?;
    Ok(HttpResponse::Ok().json(LoginBody {
        token,
        user: UserBody::new(user, None, &Urls::from_request(&req)),
    }))
}

#[tracing::instrument(name = "logout", skip_all, fields(user_id = auth.user.id))]
async fn logout(auth: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let task = state.clone();
    detached(async move { task.services.accounts.logout(&auth.token).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[tracing::instrument(name = "me", skip_all, fields(user_id = auth.user.id))]
async fn me(req: HttpRequest, auth: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(UserBody::own(auth.user, &Urls::from_request(&req)))
}

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
    Ok(HttpResponse::Ok().json(ProfileBody::new(profile, &Urls::from_request(&req))))
}

#[tracing::instrument(name = "user_posts", skip_all, fields(user = %user))]
async fn user_posts(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    user: web::Path<String>,
    page: PageParams,
) -> Result<HttpResponse, ApiError> {
    let posts = state
        .services
        .posts
        .by_author(&UserRef::parse(&user), auth.user.id, page.0)
        .await?;
    Ok(post_page(&req, posts))
}

#[derive(Deserialize)]
struct ProfileRequest {
    full_name: Option<String>,
    bio: Option<String>,
    password: Option<String>,
    current_password: Option<String>,
}

const PROFILE_FORM: FormSpec = FormSpec {
    files: &["avatar"],
    texts: &["full_name", "bio", "password", "current_password"],
};

/// JSON (or a url-encoded form) with the text fields, or multipart with the same fields and an
/// `avatar` file.
#[tracing::instrument(name = "update_profile", skip_all, fields(user = %user, user_id = auth.user.id))]
async fn update_profile(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    user: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let update = if is_multipart(&req) {
        let mut form =
            read_form(&req, payload, PROFILE_FORM, state.limits.max_upload_bytes).await?;
        ProfileUpdate {
            full_name: form.text("full_name"),
            bio: form.text("bio"),
            password: form.text("password"),
            current_password: form.text("current_password"),
            avatar: form.file("avatar")?,
        }
    } else {
        let input: ProfileRequest = body::read(&req, payload, state.limits.max_json_bytes).await?;
        ProfileUpdate {
            full_name: input.full_name,
            bio: input.bio,
            password: input.password,
            current_password: input.current_password,
            avatar: None,
        }
    };
    let me = auth.user.id;
    let target = UserRef::parse(&user);
    let task = state.clone();
    let updated = detached(async move {
        task.services
            .accounts
            .update_profile(me, &target, update)
            .await
    })
    .await?;
    Ok(HttpResponse::Ok().json(UserBody::own(updated, &Urls::from_request(&req))))
}

#[tracing::instrument(name = "delete_account", skip_all, fields(user = %user, user_id = auth.user.id))]
async fn delete_account(
    auth: AuthUser,
    state: web::Data<AppState>,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let me = auth.user.id;
    let target = UserRef::parse(&user);
    let task = state.clone();
    detached(async move { task.services.accounts.delete_account(me, &target).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `201` when the follow is new, `200` when it already existed; the body is `{"following": true}`
/// either way.
#[tracing::instrument(name = "follow", skip_all, fields(user_id = auth.user.id, leader = *leader))]
async fn follow(
    auth: AuthUser,
    state: web::Data<AppState>,
    leader: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let (me, leader) = (auth.user.id, leader.into_inner());
    let task = state.clone();
    let created = detached(async move { task.services.follows.follow(me, leader).await }).await?;
    let body = FollowBody { following: true };
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

#[tracing::instrument(name = "unfollow", skip_all, fields(user_id = auth.user.id, leader = *leader))]
async fn unfollow(
    auth: AuthUser,
    state: web::Data<AppState>,
    leader: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let (me, leader) = (auth.user.id, leader.into_inner());
    let task = state.clone();
    detached(async move { task.services.follows.unfollow(me, leader).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[tracing::instrument(name = "remove_follower", skip_all, fields(user_id = auth.user.id, follower = *follower))]
async fn remove_follower(
    auth: AuthUser,
    state: web::Data<AppState>,
    follower: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let (me, follower) = (auth.user.id, follower.into_inner());
    let task = state.clone();
    detached(async move { task.services.follows.remove_follower(me, follower).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[tracing::instrument(name = "followers", skip_all, fields(user = %user))]
async fn followers(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    user: web::Path<String>,
    page: PageParams,
) -> Result<HttpResponse, ApiError> {
    let users = state
        .services
        .follows
        .followers(&UserRef::parse(&user), auth.user.id, page.0)
        .await?;
    Ok(user_page(&req, users))
}

#[tracing::instrument(name = "following", skip_all, fields(user = %user))]
async fn following(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    user: web::Path<String>,
    page: PageParams,
) -> Result<HttpResponse, ApiError> {
    let users = state
        .services
        .follows
        .following(&UserRef::parse(&user), auth.user.id, page.0)
        .await?;
    Ok(user_page(&req, users))
}

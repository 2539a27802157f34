//! Follows: `/accounts/follow/{id}/`, `/accounts/remove-follower/{id}/`, and the lists at
//! `/accounts/follower/{user}/` and `/accounts/following/{user}/`.

use actix_web::{HttpResponse, web};
use being_social_domain::model::UserId;
use being_social_domain::services::FollowList;

use super::{IdPath, UserListing, UserPath, detached, resource, user_page};
use crate::AppState;
use crate::auth::AuthUser;
use crate::dto::{FollowBody, UserBody};
use crate::error::ApiError;
use crate::pagination::{PageBody, PageParams};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/accounts/follow/{id}/")
            .route(web::post().to(follow))
            .route(web::delete().to(unfollow)),
    )
    .service(resource("/accounts/remove-follower/{id}/").route(web::delete().to(remove_follower)))
    .service(resource("/accounts/follower/{user}/").route(web::get().to(followers)))
    .service(resource("/accounts/following/{user}/").route(web::get().to(following)));
}

/// Follow a user
#[utoipa::path(post, path = "/accounts/follow/{id}/", tag = "accounts", params(IdPath),
    security(("token" = []), ("bearer" = [])),
    responses((status = 201, description = "Now following", body = FollowBody),
        (status = 200, description = "Already following", body = FollowBody),
        (status = 400, description = "Yourself (`cannot_follow_self`)"),
        (status = 409, description = "Already following the most users allowed (`following_limit`)")))]
#[tracing::instrument(name = "follow", skip_all, fields(user_id = auth.user.id.get(), leader = leader.get()))]
async fn follow(
    auth: AuthUser,
    state: web::Data<AppState>,
    leader: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let (me, leader) = (auth.user.id, leader.into_inner());
    let created = detached(async move { state.services.follows.follow(me, leader).await }).await?;
    let body = FollowBody { following: true };
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// Unfollow a user
#[utoipa::path(delete, path = "/accounts/follow/{id}/", tag = "accounts", params(IdPath),
    security(("token" = []), ("bearer" = [])),
    responses((status = 204, description = "Not following (also when it was not)")))]
#[tracing::instrument(name = "unfollow", skip_all, fields(user_id = auth.user.id.get(), leader = leader.get()))]
async fn unfollow(
    auth: AuthUser,
    state: web::Data<AppState>,
    leader: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let (me, leader) = (auth.user.id, leader.into_inner());
    detached(async move { state.services.follows.unfollow(me, leader).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove a follower of the caller
#[utoipa::path(delete, path = "/accounts/remove-follower/{id}/", tag = "accounts", params(IdPath),
    security(("token" = []), ("bearer" = [])),
    responses((status = 204, description = "No longer a follower (also when it was not)")))]
#[tracing::instrument(name = "remove_follower", skip_all, fields(user_id = auth.user.id.get(), follower = follower.get()))]
async fn remove_follower(
    auth: AuthUser,
    state: web::Data<AppState>,
    follower: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let (me, follower) = (auth.user.id, follower.into_inner());
    detached(async move { state.services.follows.remove_follower(me, follower).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A user's followers, most recent first
#[utoipa::path(get, path = "/accounts/follower/{user}/", tag = "accounts", params(UserPath, PageParams),
    security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "A page of users", body = PageBody<UserBody>)))]
#[tracing::instrument(name = "followers", skip_all, fields(user = %list.name))]
async fn followers(list: UserListing) -> Result<HttpResponse, ApiError> {
    follow_list(list, FollowList::Followers).await
}

/// The users a user follows, most recent first
#[utoipa::path(get, path = "/accounts/following/{user}/", tag = "accounts", params(UserPath, PageParams),
    security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "A page of users", body = PageBody<UserBody>)))]
#[tracing::instrument(name = "following", skip_all, fields(user = %list.name))]
async fn following(list: UserListing) -> Result<HttpResponse, ApiError> {
    follow_list(list, FollowList::Following).await
}

/// A page of the users on the listed user's `list`.
async fn follow_list(listing: UserListing, list: FollowList) -> Result<HttpResponse, ApiError> {
    let follows = &listing.state.services.follows;
    let users = follows.list(list, &listing.user, listing.me, listing.page);
    Ok(user_page(&listing.req, users.await?))
}

//! Likes: `/posts/post-reaction/{id}/` (like, likers, unlike) and `/posts/delete-like/{id}/`.

use actix_web::{HttpRequest, HttpResponse, web};
use being_social_domain::model::PostId;

use super::{IdPath, detached, resource, user_page};
use crate::AppState;
use crate::auth::AuthUser;
use crate::dto::{LikeBody, UserBody};
use crate::error::ApiError;
use crate::pagination::{PageBody, PageParams};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/posts/post-reaction/{id}/")
            .route(web::post().to(like))
            .route(web::get().to(likers))
            .route(web::delete().to(unlike_reaction)),
    )
    .service(resource("/posts/delete-like/{id}/").route(web::delete().to(unlike)));
}

/// Like a post
///
/// The count is the one after the request.
#[utoipa::path(post, path = "/posts/post-reaction/{id}/", tag = "posts", params(IdPath), security(("token" = []), ("bearer" = [])),
    responses((status = 201, description = "Liked", body = LikeBody),
        (status = 200, description = "Already liked; the count is unchanged", body = LikeBody)))]
#[tracing::instrument(name = "like", skip_all, fields(post_id = id.get(), user_id = auth.user.id.get()))]
async fn like(
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
) -> Result<HttpResponse, ApiError> {
    let (id, me) = (id.into_inner(), auth.user.id);
    let outcome = detached(async move { state.services.likes.like(me, id).await }).await?;
    let body = LikeBody {
        liked: true,
        likes_count: outcome.likes_count,
    };
    Ok(if outcome.created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// Unlike a post
#[utoipa::path(delete, path = "/posts/delete-like/{id}/", tag = "posts", params(IdPath), security(("token" = []), ("bearer" = [])),
    responses((status = 204, description = "Not liked (also when it was not)")))]
#[tracing::instrument(name = "unlike", skip_all, fields(post_id = id.get(), user_id = auth.user.id.get()))]
async fn unlike(
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
) -> Result<HttpResponse, ApiError> {
    let (id, me) = (id.into_inner(), auth.user.id);
    detached(async move { state.services.likes.unlike(me, id).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Unlike a post (the same as `DELETE /posts/delete-like/{id}/`)
#[utoipa::path(delete, path = "/posts/post-reaction/{id}/", tag = "posts", params(IdPath), security(("token" = []), ("bearer" = [])),
    responses((status = 204, description = "Not liked (also when it was not)")))]
async fn unlike_reaction(
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
) -> Result<HttpResponse, ApiError> {
    unlike(auth, state, id).await
}

/// The users who liked a post, most recent first
#[utoipa::path(get, path = "/posts/post-reaction/{id}/", tag = "posts", params(IdPath, PageParams), security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "A page of users", body = PageBody<UserBody>)))]
#[tracing::instrument(name = "likers", skip_all, fields(post_id = id.get()))]
async fn likers(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
    page: PageParams,
) -> Result<HttpResponse, ApiError> {
    let users = state
        .services
        .likes
        .likers(*id, auth.user.id, page.0)
        .await?;
    Ok(user_page(&req, users))
}

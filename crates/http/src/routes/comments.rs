//! Comments: `/posts/post-comment/{post_id}/` (and `/{comment_id}/` for replies) and
//! `/posts/delete-comment/{comment_id}/`.

use actix_web::{HttpRequest, HttpResponse, web};
use being_social_domain::model::{CommentId, PostId};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{CommentIdPath, PostIdPath, comment_page, detached, resource};
use crate::AppState;
use crate::auth::AuthUser;
use crate::body;
use crate::dto::{CommentBody, Urls};
use crate::error::ApiError;
use crate::pagination::{PageBody, PageParams};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/posts/post-comment/{post_id}/")
            .route(web::get().to(comments))
            .route(web::post().to(comment)),
    )
    .service(
        resource("/posts/post-comment/{post_id}/{comment_id}/")
            .route(web::get().to(replies))
            .route(web::post().to(reply)),
    )
    .service(
        resource("/posts/delete-comment/{comment_id}/").route(web::delete().to(delete_comment)),
    );
}

#[derive(Deserialize, ToSchema)]
struct CommentRequest {
    /// 1 to 2,200 characters after trimming surrounding whitespace (the schema has no `maxLength`: it would count the whitespace).
    #[schema(value_type = String, min_length = 1)]
    content: Option<String>,
}

async fn list_comments(
    req: &HttpRequest,
    state: &AppState,
    post_id: PostId,
    parent_id: Option<CommentId>,
    page: PageParams,
) -> Result<HttpResponse, ApiError> {
    let comments = state
        .services
        .comments
        .list(post_id, parent_id, page.0)
        .await?;
    Ok(comment_page(req, comments))
}

async fn create_comment(
    req: &HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    post_id: PostId,
    parent_id: Option<CommentId>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let input: CommentRequest = body::read(req, payload, state.limits.max_json_bytes).await?;
    let me = auth.user.id;
    let comment = detached(async move {
        state
            .services
            .comments
            .create(me, post_id, parent_id, input.content.as_deref())
            .await
    })
    .await?;
    Ok(HttpResponse::Created().json(CommentBody::new(comment, &Urls::from_request(req))))
}

/// A post's top-level comments, oldest first
#[utoipa::path(get, path = "/posts/post-comment/{post_id}/", tag = "posts", params(PostIdPath, PageParams), security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "A page of comments", body = PageBody<CommentBody>)))]
#[tracing::instrument(name = "comments", skip_all, fields(post_id = post_id.get()))]
async fn comments(
    req: HttpRequest,
    _auth: AuthUser,
    state: web::Data<AppState>,
    post_id: web::Path<PostId>,
    page: PageParams,
) -> Result<HttpResponse, ApiError> {
    list_comments(&req, &state, *post_id, None, page).await
}

/// Comment on a post
#[utoipa::path(post, path = "/posts/post-comment/{post_id}/", tag = "posts", params(PostIdPath), security(("token" = []), ("bearer" = [])),
    request_body = CommentRequest,
    responses((status = 201, description = "The new comment", body = CommentBody)))]
#[tracing::instrument(name = "comment", skip_all, fields(post_id = post_id.get(), user_id = auth.user.id.get()))]
async fn comment(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    post_id: web::Path<PostId>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    create_comment(&req, auth, state, *post_id, None, payload).await
}

/// The replies to a comment, oldest first
#[utoipa::path(get, path = "/posts/post-comment/{post_id}/{comment_id}/", tag = "posts",
    params(PostIdPath, CommentIdPath, PageParams), security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "A page of replies", body = PageBody<CommentBody>)))]
#[tracing::instrument(name = "replies", skip_all, fields(post_id = path.0.get(), comment_id = path.1.get()))]
async fn replies(
    req: HttpRequest,
    _auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(PostId, CommentId)>,
    page: PageParams,
) -> Result<HttpResponse, ApiError> {
    let (post_id, comment_id) = path.into_inner();
    list_comments(&req, &state, post_id, Some(comment_id), page).await
}

/// Reply to a comment
///
/// The comment must belong to that post (`404` otherwise).
#[utoipa::path(post, path = "/posts/post-comment/{post_id}/{comment_id}/", tag = "posts",
    params(PostIdPath, CommentIdPath), security(("token" = []), ("bearer" = [])), request_body = CommentRequest,
    responses((status = 201, description = "The new reply", body = CommentBody)))]
#[tracing::instrument(name = "reply", skip_all, fields(post_id = path.0.get(), comment_id = path.1.get(), user_id = auth.user.id.get()))]
async fn reply(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(PostId, CommentId)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (post_id, comment_id) = path.into_inner();
    create_comment(&req, auth, state, post_id, Some(comment_id), payload).await
}

/// Delete a comment and every reply beneath it
#[utoipa::path(delete, path = "/posts/delete-comment/{comment_id}/", tag = "posts", params(CommentIdPath), security(("token" = []), ("bearer" = [])),
    responses((status = 204, description = "The comment and its replies are gone"),
        (status = 403, description = "Neither the comment's author nor the post's")))]
#[tracing::instrument(name = "delete_comment", skip_all, fields(comment_id = id.get(), user_id = auth.user.id.get()))]
async fn delete_comment(
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<CommentId>,
) -> Result<HttpResponse, ApiError> {
    let (id, me) = (id.into_inner(), auth.user.id);
    detached(async move { state.services.comments.delete(me, id).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

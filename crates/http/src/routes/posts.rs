//! `/posts/...`: posts, likes, comments and the feed.

use actix_web::{HttpRequest, HttpResponse, web};
use being_social_domain::DomainError;
use being_social_domain::model::{CommentId, PostId};
use being_social_domain::services::PostUpdate;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    CommentIdPath, IdPath, PostIdPath, comment_page, detached, post_page, resource, user_page,
};
use crate::AppState;
use crate::auth::AuthUser;
use crate::body;
use crate::dto::{CommentBody, LikeBody, PostBody, Urls, UserBody};
use crate::error::ApiError;
use crate::multipart::{FormSpec, is_multipart, read_form};
use crate::pagination::{PageBody, PageParams};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/posts/create/").route(web::post().to(create)))
        .service(resource("/posts/post-feed/").route(web::get().to(feed)))
        .service(
            resource("/posts/edit/{id}/")
                .route(web::get().to(get))
                .route(web::patch().to(edit))
                .route(web::put().to(edit))
                .route(web::delete().to(delete)),
        )
        .service(
            resource("/posts/post-reaction/{id}/")
                .route(web::post().to(like))
                .route(web::get().to(likers))
                .route(web::delete().to(unlike_reaction)),
        )
        .service(resource("/posts/delete-like/{id}/").route(web::delete().to(unlike)))
        .service(
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

const CREATE_FORM: FormSpec = FormSpec {
    files: &["image"],
    texts: &["caption", "alt_text"],
};

/// The fields of a new post. Documentation only: `read_form` reads them.
#[derive(ToSchema)]
#[allow(dead_code)]
struct CreatePostForm {
    /// JPEG, PNG, WebP or GIF, whatever its name or declared type; stored re-encoded without
    /// metadata.
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
    #[schema(max_length = 2200)]
    caption: Option<String>,
    #[schema(max_length = 1000)]
    alt_text: Option<String>,
}

/// Post a picture
///
/// Multipart only (anything else: `415`).
#[utoipa::path(post, path = "/posts/create/", tag = "posts", security(("token" = []), ("bearer" = [])),
    request_body(content = CreatePostForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "The new post", body = PostBody)))]
#[tracing::instrument(name = "create_post", skip_all, fields(user_id = auth.user.id))]
async fn create(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut form = read_form(&req, payload, CREATE_FORM, state.limits.max_upload_bytes).await?;
    let Some(image) = form.file("image")? else {
        return Err(ApiError::validation("image", "No file was submitted."));
    };
    let caption = form.text("caption");
    let alt_text = form.text("alt_text");
    let me = auth.user.id;
    let task = state.clone();
    let post = detached(async move {
        task.services
            .posts
            .create(me, image, caption.as_deref(), alt_text.as_deref())
            .await
    })
    .await?;
    Ok(HttpResponse::Created().json(PostBody::new(post, &Urls::from_request(&req))))
}

/// A post
#[utoipa::path(get, path = "/posts/edit/{id}/", tag = "posts", params(IdPath), security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "The post", body = PostBody)))]
#[tracing::instrument(name = "get_post", skip_all, fields(post_id = *id))]
async fn get(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
) -> Result<HttpResponse, ApiError> {
    let post = state.services.posts.get(*id, Some(auth.user.id)).await?;
    Ok(HttpResponse::Ok().json(PostBody::new(post, &Urls::from_request(&req))))
}

#[derive(Deserialize, ToSchema)]
struct EditRequest {
    #[schema(required = false, max_length = 2200)]
    caption: Option<String>,
    #[schema(required = false, max_length = 1000)]
    alt_text: Option<String>,
}

const EDIT_FORM: FormSpec = FormSpec {
    files: &["image"],
    texts: &["caption", "alt_text"],
};

fn image_not_editable() -> ApiError {
    DomainError::BadRequest {
        code: "image_not_editable",
        detail: "The image of a post cannot be changed; only caption and alt_text can.".into(),
    }
    .into()
}

/// Change a post's caption and alt text
///
/// `PATCH` and `PUT`: JSON (or a url-encoded form) or multipart with `caption` and `alt_text`.
/// Sending an `image` is a `400 image_not_editable`.
#[utoipa::path(method(patch, put), path = "/posts/edit/{id}/", tag = "posts", params(IdPath), security(("token" = []), ("bearer" = [])),
    request_body(content((EditRequest = "application/json"), (EditRequest = "multipart/form-data"))),
    responses((status = 200, description = "The updated post", body = PostBody),
        (status = 403, description = "Someone else's post")))]
#[tracing::instrument(name = "edit_post", skip_all, fields(post_id = *id, user_id = auth.user.id))]
async fn edit(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let update = if is_multipart(&req) {
        let mut form = read_form(&req, payload, EDIT_FORM, state.limits.max_upload_bytes).await?;
        if form.has_file("image") {
            return Err(image_not_editable());
        }
        PostUpdate {
            caption: form.text("caption"),
            alt_text: form.text("alt_text"),
        }
    } else {
        let fields = body::read_object(&req, payload, state.limits.max_json_bytes).await?;
        if fields.contains_key("image") {
            return Err(image_not_editable());
        }
        let input: EditRequest = body::decode(fields)?;
        PostUpdate {
            caption: input.caption,
            alt_text: input.alt_text,
        }
    };
    let (id, me) = (id.into_inner(), auth.user.id);
    let task = state.clone();
    let post = detached(async move { task.services.posts.update(id, me, update).await }).await?;
    Ok(HttpResponse::Ok().json(PostBody::new(post, &Urls::from_request(&req))))
}

/// Delete a post
#[utoipa::path(delete, path = "/posts/edit/{id}/", tag = "posts", params(IdPath), security(("token" = []), ("bearer" = [])),
    responses((status = 204, description = "The post, its likes, comments and files are gone"),
        (status = 403, description = "Someone else's post")))]
#[tracing::instrument(name = "delete_post", skip_all, fields(post_id = *id, user_id = auth.user.id))]
async fn delete(
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
) -> Result<HttpResponse, ApiError> {
    let (id, me) = (id.into_inner(), auth.user.id);
    let task = state.clone();
    detached(async move { task.services.posts.delete(id, me).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Like a post
///
/// The count is the one after the request.
#[utoipa::path(post, path = "/posts/post-reaction/{id}/", tag = "posts", params(IdPath), security(("token" = []), ("bearer" = [])),
    responses((status = 201, description = "Liked", body = LikeBody),
        (status = 200, description = "Already liked; the count is unchanged", body = LikeBody)))]
#[tracing::instrument(name = "like", skip_all, fields(post_id = *id, user_id = auth.user.id))]
async fn like(
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
) -> Result<HttpResponse, ApiError> {
    let (id, me) = (id.into_inner(), auth.user.id);
    let task = state.clone();
    let outcome = detached(async move { task.services.posts.like(me, id).await }).await?;
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
#[tracing::instrument(name = "unlike", skip_all, fields(post_id = *id, user_id = auth.user.id))]
async fn unlike(
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
) -> Result<HttpResponse, ApiError> {
    let (id, me) = (id.into_inner(), auth.user.id);
    let task = state.clone();
    detached(async move { task.services.posts.unlike(me, id).await }).await?;
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
#[tracing::instrument(name = "likers", skip_all, fields(post_id = *id))]
async fn likers(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
    page: PageParams,
) -> Result<HttpResponse, ApiError> {
    let users = state
        .services
        .posts
        .likers(*id, auth.user.id, page.0)
        .await?;
    Ok(user_page(&req, users))
}

#[derive(Deserialize, ToSchema)]
struct CommentRequest {
    /// 1 to 2,200 characters after trimming.
    #[schema(value_type = String, min_length = 1, max_length = 2200)]
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
    let task = state.clone();
    let comment = detached(async move {
        task.services
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
#[tracing::instrument(name = "comments", skip_all, fields(post_id = *post_id))]
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
#[tracing::instrument(name = "comment", skip_all, fields(post_id = *post_id, user_id = auth.user.id))]
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
#[tracing::instrument(name = "replies", skip_all, fields(post_id = path.0, comment_id = path.1))]
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
#[tracing::instrument(name = "reply", skip_all, fields(post_id = path.0, comment_id = path.1, user_id = auth.user.id))]
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
#[tracing::instrument(name = "delete_comment", skip_all, fields(comment_id = *id, user_id = auth.user.id))]
async fn delete_comment(
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<CommentId>,
) -> Result<HttpResponse, ApiError> {
    let (id, me) = (id.into_inner(), auth.user.id);
    let task = state.clone();
    detached(async move { task.services.comments.delete(me, id).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's feed
///
/// Posts of the people the caller follows and the caller's own, newest first.
#[utoipa::path(get, path = "/posts/post-feed/", tag = "posts", params(PageParams), security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "A page of posts", body = PageBody<PostBody>)))]
#[tracing::instrument(name = "feed", skip_all, fields(user_id = auth.user.id))]
async fn feed(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    page: PageParams,
) -> Result<HttpResponse, ApiError> {
    let posts = state.services.posts.feed(auth.user.id, page.0).await?;
    Ok(post_page(&req, posts))
}

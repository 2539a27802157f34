//! `/posts/...`: posts, likes, comments and the feed.

use actix_web::{HttpRequest, HttpResponse, web};
use being_social_domain::DomainError;
use being_social_domain::model::{CommentId, PostId};
use being_social_domain::services::PostUpdate;
use serde::Deserialize;

use super::{comment_page, detached, post_page, resource, user_page};
use crate::AppState;
use crate::auth::AuthUser;
use crate::body;
use crate::dto::{CommentBody, LikeBody, PostBody, Urls};
use crate::error::ApiError;
use crate::multipart::{FormSpec, is_multipart, read_form};
use crate::pagination::PageParams;

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
                .route(web::delete().to(unlike)),
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

/// Multipart only (anything else: `415`).
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

#[derive(Deserialize)]
struct EditRequest {
    caption: Option<String>,
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

/// `PATCH` and `PUT`: JSON (or a url-encoded form) or multipart with `caption` and `alt_text`.
/// Sending an `image` is a `400 image_not_editable`.
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

/// `201` for a new like, `200` when it already existed; the count is the one after the request.
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

#[derive(Deserialize)]
struct CommentRequest {
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

/// Top-level comments, oldest first.
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

/// Replies to a comment, oldest first.
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

/// Posts of the people the caller follows and the caller's own, newest first.
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

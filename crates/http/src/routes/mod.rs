//! The handlers, one module per area. Handlers are thin: they read the request, call one service
//! and shape the answer.

pub mod accounts;
pub mod media;
pub mod posts;
pub mod service;

use std::future::Future;

use actix_web::{HttpRequest, HttpResponse, Resource, web};
use being_social_domain::DomainError;
use being_social_domain::model::{Comment, ListedUser, Post};
use being_social_domain::pagination::Page;

use crate::dto::{CommentBody, PostBody, Urls, UserBody};
use crate::error::ApiError;
use crate::pagination::PageBody;

/// `{user}` in a path, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct UserPath {
    /// A user id (all digits) or an email (case-insensitive).
    user: String,
}

/// `{id}` in a path, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct IdPath {
    id: i64,
}

/// `{post_id}` in a path, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct PostIdPath {
    post_id: i64,
}

/// `{comment_id}` in a path, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct CommentIdPath {
    comment_id: i64,
}

/// A resource answering at `path` both with and without its trailing slash; a method it does not
/// serve gets a JSON `405`.
pub(crate) fn resource(path: &str) -> Resource {
    let bare = path.trim_end_matches('/');
    web::resource([bare.to_owned(), format!("{bare}/")])
        .default_service(web::to(method_not_allowed))
}

pub(crate) async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(req.method().clone()))
}

/// The JSON `404` for paths no route matches.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoRoute)
}

/// `200` with a page of posts; `next` points at the same request with the next cursor.
pub(crate) fn post_page(req: &HttpRequest, page: Page<Post>) -> HttpResponse {
    let urls = Urls::from_request(req);
    HttpResponse::Ok().json(PageBody::for_request(req, page, |p| {
        PostBody::new(p, &urls)
    }))
}

/// `200` with a page of listed users (followers, following, likers).
pub(crate) fn user_page(req: &HttpRequest, page: Page<ListedUser>) -> HttpResponse {
    let urls = Urls::from_request(req);
    HttpResponse::Ok().json(PageBody::for_request(req, page, |u| {
        UserBody::listed(u, &urls)
    }))
}

/// `200` with a page of comments or replies.
pub(crate) fn comment_page(req: &HttpRequest, page: Page<Comment>) -> HttpResponse {
    let urls = Urls::from_request(req);
    HttpResponse::Ok().json(PageBody::for_request(req, page, |c| {
        CommentBody::new(c, &urls)
    }))
}

/// Runs a state-changing service call in its own task and waits for it. actix drops a handler's
/// future when the client goes away; the task is not dropped with it, so a change that has started
/// always runs to its end (commit or rollback) instead of being cut off between two awaits.
pub(crate) async fn detached<T, F>(work: F) -> Result<T, ApiError>
where
    F: Future<Output = Result<T, DomainError>> + 'static,
    T: 'static,
{
    match actix_web::rt::spawn(work).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(err) => Err(ApiError::internal(format!("write task failed: {err}"))),
    }
}

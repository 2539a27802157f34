//! The handlers, one module per feature (accounts, sessions, follows, posts, likes, comments,
//! feed, media), named as the feature is in the services and the database adapter. Handlers are
//! thin: they read the request, call one service and shape the answer.

pub mod accounts;
pub mod comments;
pub mod feed;
pub mod follows;
pub mod likes;
pub mod media;
pub mod posts;
pub mod service;
pub mod sessions;

use std::future::Future;

use actix_web::body::BoxBody;
use actix_web::dev::{Payload, Service as _, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Resource, ResponseError as _, web};
use being_social_domain::DomainError;
use being_social_domain::model::{Comment, ListedUser, Post, UserId};
use being_social_domain::pagination::{Page, PageRequest};
use being_social_domain::services::UserRef;
use futures_util::future::LocalBoxFuture;

use crate::AppState;
use crate::auth::AuthUser;
use crate::dto::{CommentBody, PostBody, Urls, UserBody};
use crate::error::ApiError;
use crate::pagination::{PageBody, PageParams};

/// Every route of the API. The order matters where paths overlap: each feature's fixed
/// `/accounts/...` paths come before `/accounts/{user}/` (in [`accounts`], last of them).
pub fn configure(cfg: &mut web::ServiceConfig) {
    service::configure(cfg);
    sessions::configure(cfg);
    follows::configure(cfg);
    posts::configure(cfg);
    likes::configure(cfg);
    comments::configure(cfg);
    feed::configure(cfg);
    accounts::configure(cfg);
    media::configure(cfg);
}

/// `{user}` in a path, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct UserPath {
    /// A user id (all digits) or an email (case-insensitive).
    user: String,
}

/// What a list of a user's things (`/accounts/{user}/posts/`, followers, following) reads: the
/// request (for the page's links), the caller, the services, the user of the path (as written,
/// for the log, and parsed) and the page asked for, extracted together and in that order, as the
/// handler's arguments would be.
pub(crate) struct UserListing {
    req: HttpRequest,
    me: UserId,
    state: web::Data<AppState>,
    name: String,
    user: UserRef,
    page: PageRequest,
}

impl FromRequest for UserListing {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        type Parts = (AuthUser, web::Data<AppState>, web::Path<String>, PageParams);
        let (req, parts) = (req.clone(), Parts::from_request(req, payload));
        Box::pin(async move {
            let (auth, state, user, page) = parts.await?;
            let (me, name, page) = (auth.user.id, user.into_inner(), page.0);
            let user = UserRef::parse(&name);
            Ok(Self {
                req,
                me,
                state,
                name,
                user,
                page,
            })
        })
    }
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
/// serve gets a JSON `405` with `Allow`. `path` as written comes first: it is the template that
/// logs and metrics show (`match_pattern`), so they name routes as the API reference does.
pub(crate) fn resource(path: &str) -> Resource<impl ResourceFactory> {
    let bare = path.trim_end_matches('/');
    let other = if bare == path {
        format!("{bare}/")
    } else {
        bare.to_owned()
    };
    json_405(web::resource([path.to_owned(), other]))
}

/// What a resource is once [`json_405`] wrapped it.
pub(crate) trait ResourceFactory:
    ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >
{
}

impl<T> ResourceFactory for T where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        >
{
}

/// actix answers a method the resource has no route for with `405` and the `Allow` header that
/// RFC 9110 requires, listing the methods its routes registered; this gives that answer the
/// contract's JSON body and keeps the header.
pub(crate) fn json_405(resource: Resource) -> Resource<impl ResourceFactory> {
    resource.wrap_fn(|req, service| {
        let method = req.method().clone();
        let answer = service.call(req);
        async move {
            let response = answer.await?;
            if response.status() != StatusCode::METHOD_NOT_ALLOWED {
                return Ok(response);
            }
            let allow = response.headers().get(header::ALLOW).cloned();
            let (req, _) = response.into_parts();
            let mut json = ApiError::MethodNotAllowed(method).error_response();
            if let Some(allow) = allow {
                json.headers_mut().insert(header::ALLOW, allow);
            }
            Ok(ServiceResponse::new(req, json))
        }
    })
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

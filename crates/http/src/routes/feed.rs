//! The home feed: `/posts/post-feed/`.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{post_page, resource};
use crate::AppState;
use crate::auth::AuthUser;
use crate::dto::PostBody;
use crate::error::ApiError;
use crate::pagination::{PageBody, PageParams};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/posts/post-feed/").route(web::get().to(feed)));
}

/// The caller's feed
///
/// Posts of the people the caller follows and the caller's own, newest first.
#[utoipa::path(get, path = "/posts/post-feed/", tag = "posts", params(PageParams), security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "A page of posts", body = PageBody<PostBody>)))]
#[tracing::instrument(name = "feed", skip_all, fields(user_id = auth.user.id.get()))]
async fn feed(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    page: PageParams,
) -> Result<HttpResponse, ApiError> {
    let posts = state.services.feed.feed(auth.user.id, page.0).await?;
    Ok(post_page(&req, posts))
}

//! Posts: `/posts/create/`, `/posts/edit/{id}/`, and an author's posts at
//! `/accounts/{user}/posts/`.

use actix_web::{HttpRequest, HttpResponse, web};
use being_social_domain::DomainError;
use being_social_domain::model::PostId;
use being_social_domain::services::PostUpdate;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{IdPath, UserListing, UserPath, detached, post_page, resource};
use crate::AppState;
use crate::auth::AuthUser;
use crate::body;
use crate::dto::{PostBody, Urls};
use crate::error::ApiError;
use crate::multipart::{FormSpec, is_multipart, read_form};
use crate::pagination::{PageBody, PageParams};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/posts/create/").route(web::post().to(create)))
        .service(
            resource("/posts/edit/{id}/")
                .route(web::get().to(get))
                .route(web::patch().to(edit))
                .route(web::put().to(edit))
                .route(web::delete().to(delete)),
        )
        .service(resource("/accounts/{user}/posts/").route(web::get().to(user_posts)));
}

const CREATE_FORM: FormSpec = FormSpec {
    files: &["image"],
    texts: &["caption", "alt_text"],
};

/// The fields of a new post. Documentation only: `read_form` reads them.
#[derive(ToSchema)]
#[allow(dead_code)]
struct CreatePostForm {
    /// One to ten pictures, one `image` part each, in the order the post shows them: JPEG, PNG,
    /// WebP or GIF, whatever their names or declared types; stored re-encoded without metadata.
    /// Together within the upload limit.
    #[schema(value_type = Vec<String>, format = Binary, min_items = 1, max_items = 10)]
    image: Vec<Vec<u8>>,
    /// At most 2,200 characters after trimming surrounding whitespace (the schema has no `maxLength`: it would count the whitespace).
    caption: Option<String>,
    /// One `alt_text` part per picture, repeated in the same order: the n-th describes the n-th
    /// `image` (pictures without one get an empty alt text; more alt texts than pictures is a
    /// `400`). Each at most 1,000 characters, trimmed likewise. (Described as one text: any text
    /// is a valid alt text, so a part cannot be of a wrong type.)
    #[schema(value_type = Option<String>)]
    alt_text: Option<Vec<String>>,
}

/// Post one to ten pictures
///
/// Multipart only (anything else: `415`). All or nothing: if any picture is refused, nothing
/// is stored. Eleven pictures or more: `400 too_many_images`.
#[utoipa::path(post, path = "/posts/create/", tag = "posts", security(("token" = []), ("bearer" = [])),
    request_body(content = CreatePostForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "The new post", body = PostBody)))]
#[tracing::instrument(name = "create_post", skip_all, fields(user_id = auth.user.id.get()))]
async fn create(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut form = read_form(
        &req,
        payload,
        CREATE_FORM,
        state.limits.max_upload_bytes,
        &state.uploads,
    )
    .await?;
    let images = form.files("image")?;
    if images.is_empty() {
        return Err(ApiError::validation("image", "No file was submitted."));
    }
    let caption = form.text("caption");
    let alt_texts = form.texts("alt_text");
    let held = form.into_reservation();
    let me = auth.user.id;
    let post = detached(async move {
        let _held = held;
        state
            .services
            .posts
            .create(me, images, caption.as_deref(), alt_texts)
            .await
    })
    .await?;
    Ok(HttpResponse::Created().json(PostBody::new(post, &Urls::from_request(&req))))
}

/// A post
#[utoipa::path(get, path = "/posts/edit/{id}/", tag = "posts", params(IdPath), security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "The post", body = PostBody)))]
#[tracing::instrument(name = "get_post", skip_all, fields(post_id = id.get()))]
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
    /// At most 2,200 characters after trimming surrounding whitespace (the schema has no `maxLength`: it would count the whitespace).
    #[schema(required = false)]
    caption: Option<String>,
    /// At most 1,000 characters, trimmed likewise.
    #[schema(required = false)]
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
#[tracing::instrument(name = "edit_post", skip_all, fields(post_id = id.get(), user_id = auth.user.id.get()))]
async fn edit(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let update = if is_multipart(&req) {
        let mut form = read_form(
            &req,
            payload,
            EDIT_FORM,
            state.limits.max_upload_bytes,
            &state.uploads,
        )
        .await?;
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
    let post = detached(async move { state.services.posts.update(id, me, update).await }).await?;
    Ok(HttpResponse::Ok().json(PostBody::new(post, &Urls::from_request(&req))))
}

/// Delete a post
#[utoipa::path(delete, path = "/posts/edit/{id}/", tag = "posts", params(IdPath), security(("token" = []), ("bearer" = [])),
    responses((status = 204, description = "The post, its likes, comments and files are gone"),
        (status = 403, description = "Someone else's post")))]
#[tracing::instrument(name = "delete_post", skip_all, fields(post_id = id.get(), user_id = auth.user.id.get()))]
async fn delete(
    auth: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<PostId>,
) -> Result<HttpResponse, ApiError> {
    let (id, me) = (id.into_inner(), auth.user.id);
    detached(async move { state.services.posts.delete(id, me).await }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A user's posts, newest first
#[utoipa::path(get, path = "/accounts/{user}/posts/", tag = "accounts", params(UserPath, PageParams),
    security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "A page of posts", body = PageBody<PostBody>)))]
#[tracing::instrument(name = "user_posts", skip_all, fields(user = %list.name))]
async fn user_posts(list: UserListing) -> Result<HttpResponse, ApiError> {
    let posts = list
        .state
        .services
        .posts
        .by_author(&list.user, list.me, list.page);
    Ok(post_page(&list.req, posts.await?))
}

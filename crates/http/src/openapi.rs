//! The OpenAPI 3.1 document, assembled from the `#[utoipa::path]` annotations beside each handler,
//! and the Swagger UI that shows it under `/docs/`.
//!
//! The error answers operations share are not repeated in each annotation: [`ErrorAnswers`] derives
//! them from what the operation declares (token, body, parameters, method), so that a new operation
//! cannot forget one. An annotation lists only its successes and the errors peculiar to it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Header, ObjectBuilder, Ref, RefOr, Type};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerFile};

use crate::error::{ApiError, ErrorBody};
use crate::routes::{accounts, comments, feed, follows, likes, media, posts, service, sessions};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Being Social",
        description = "A photo-sharing social REST API. Every path is also served without its \
            trailing slash. Errors are `{\"detail\", \"code\"}` (the `Error` schema). Log in with \
            `POST /accounts/login/`, then use **Authorize** with `Token <key>` (or the key alone \
            under `bearer`)."
    ),
    paths(
        accounts::signup,
        sessions::login,
        sessions::logout,
        sessions::logout_all,
        accounts::me,
        accounts::profile,
        accounts::update_profile,
        accounts::delete_account,
        posts::user_posts,
        follows::follow,
        follows::unfollow,
        follows::remove_follower,
        follows::followers,
        follows::following,
        posts::create,
        posts::get,
        posts::edit,
        posts::delete,
        likes::like,
        likes::likers,
        likes::unlike_reaction,
        likes::unlike,
        comments::comments,
        comments::comment,
        comments::replies,
        comments::reply,
        comments::delete_comment,
        feed::feed,
        media::media,
        service::healthz,
        service::readyz,
        service::openapi_json,
        service::docs,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes, &ErrorAnswers, &UniqueOperationIds),
    tags(
        (name = "accounts", description = "Sign-up, login, profiles, follows"),
        (name = "posts", description = "Posts, likes, comments and the feed"),
        (name = "media", description = "Stored pictures"),
        (name = "service", description = "Health and documentation"),
    )
)]
pub struct ApiDoc;

/// The names the annotations' `security(...)` refer to.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <key>`, with the key from `POST /accounts/login/`.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The same key as `Authorization: Bearer <key>`."))
                    .build(),
            ),
        );
    }
}

/// An error answer shared by many operations, as a reusable response.
struct Answer {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    header: Option<(&'static str, &'static str)>,
}

const RETRY_AFTER: Option<(&str, &str)> = Some(("Retry-After", "Seconds to wait before retrying."));

const ANSWERS: &[Answer] = &[
    Answer {
        status: "400",
        name: "BadRequest",
        description: "Invalid input: `validation_error` (with `errors` per field), `parse_error`, \
            or a rule of the operation",
        header: None,
    },
    Answer {
        status: "401",
        name: "Unauthorized",
        description: "No token, a malformed `Authorization` header, or an unknown or revoked token \
            (`not_authenticated`); a token past its idle or absolute lifetime (`token_expired`)",
        header: Some(("WWW-Authenticate", "`Token`")),
    },
    Answer {
        status: "403",
        name: "Forbidden",
        description: "Not allowed",
        header: None,
    },
    Answer {
        status: "404",
        name: "NotFound",
        description: "No such user, post, comment or picture",
        header: None,
    },
    Answer {
        status: "409",
        name: "Conflict",
        description: "Conflicts with existing data",
        header: None,
    },
    Answer {
        status: "413",
        name: "PayloadTooLarge",
        description: "The body or an uploaded file is over its limit",
        header: None,
    },
    Answer {
        status: "415",
        name: "UnsupportedMediaType",
        description: "A body type the operation does not read, or an upload that is not a JPEG, \
            PNG, WebP or GIF image",
        header: None,
    },
    Answer {
        status: "429",
        name: "TooManyRequests",
        description: "Rate limited",
        header: RETRY_AFTER,
    },
    Answer {
        status: "503",
        name: "Unavailable",
        description: "The database or the media store is unavailable",
        header: RETRY_AFTER,
    },
];

/// Paths whose answers involve no storage at all: no `503`.
const WITHOUT_STORAGE: &[&str] = &["/healthz", "/openapi.json", "/docs"];

/// Adds the shared error answers to every operation they apply to, and gives every error answer
/// the `Error` body:
/// - `400`, `413`, `415`: the operation reads a body; `400` also for query parameters (`limit`,
///   `cursor`);
/// - `401`: the operation accepts a token (even optionally: a bad token is refused);
/// - `404`: a path parameter (an unknown id, or one that is not a number);
/// - `429`: every write (signup, login and the authenticated writes are rate limited);
/// - `503`: everything that touches the database or the media store.
struct ErrorAnswers;

impl Modify for ErrorAnswers {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        for answer in ANSWERS {
            components
                .responses
                .insert(answer.name.to_owned(), RefOr::T(error_response(answer)));
        }
        for (path, item) in api.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                let has_body = operation.request_body.is_some();
                let params = parameter_places(operation);
                let applies = |status: &str| match status {
                    "400" => has_body || params.contains(&ParameterIn::Query),
                    "401" => operation.security.as_ref().is_some_and(|s| !s.is_empty()),
                    "404" => params.contains(&ParameterIn::Path),
                    "413" | "415" => has_body,
                    "429" => method != "get",
                    "503" => !WITHOUT_STORAGE.contains(&path.as_str()),
                    _ => false,
                };
                let wanted: Vec<&Answer> = ANSWERS.iter().filter(|a| applies(a.status)).collect();
                let responses = &mut operation.responses.responses;
                for answer in wanted {
                    responses
                        .entry(answer.status.to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(answer.name)));
                }
                // Errors an annotation declares itself keep their description and get the body.
                for (status, response) in responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && (status.starts_with('4') || status.starts_with('5'))
                        && response.content.is_empty()
                    {
                        let answer = ANSWERS.iter().find(|a| a.status == status);
                        let mut full = answer
                            .map_or_else(|| error_response_builder(None).build(), error_response);
                        full.description = std::mem::take(&mut response.description);
                        *response = full;
                    }
                }
            }
        }
    }
}

/// `PATCH` and `PUT /posts/edit/{id}/` share one handler, hence one operation id; an id must be
/// unique in the document, so a shared one gets its method appended.
struct UniqueOperationIds;

impl Modify for UniqueOperationIds {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let mut uses: HashMap<String, usize> = HashMap::new();
        for item in api.paths.paths.values_mut() {
            for (_, operation) in operations(item) {
                if let Some(id) = &operation.operation_id {
                    *uses.entry(id.clone()).or_default() += 1;
                }
            }
        }
        for item in api.paths.paths.values_mut() {
            for (method, operation) in operations(item) {
                if let Some(id) = &mut operation.operation_id
                    && uses.get(id.as_str()).is_some_and(|n| *n > 1)
                {
                    id.push('_');
                    id.push_str(method);
                }
            }
        }
    }
}

fn error_response(answer: &Answer) -> Response {
    error_response_builder(answer.header)
        .description(answer.description)
        .build()
}

fn error_response_builder(header: Option<(&str, &str)>) -> ResponseBuilder {
    let builder = ResponseBuilder::new().content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Error")))
            .build(),
    );
    match header {
        Some((name, description)) => {
            let mut header = Header::new(ObjectBuilder::new().schema_type(Type::String));
            header.description = Some(description.to_owned());
            builder.header(name, header)
        }
        None => builder,
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("patch", &mut item.patch),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|op| (method, op)))
}

fn parameter_places(operation: &Operation) -> Vec<ParameterIn> {
    operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|parameter| match parameter {
            RefOr::T(parameter) => Some(parameter.parameter_in.clone()),
            RefOr::Ref(_) => None,
        })
        .collect()
}

/// The document as served at `/openapi.json`, built once.
///
/// # Errors
/// Only if the document cannot be serialized, which would be a bug.
pub fn json() -> Result<&'static str, ApiError> {
    static JSON: LazyLock<Result<String, String>> =
        LazyLock::new(|| ApiDoc::openapi().to_json().map_err(|err| err.to_string()));
    JSON.as_deref().map_err(|e| ApiError::internal(e.clone()))
}

/// A file of the Swagger UI (the page itself for `""`), embedded in the binary.
///
/// # Errors
/// Only if the page's configuration cannot be written into it, which would be a bug.
pub fn swagger_file(path: &str) -> Result<Option<SwaggerFile<'static>>, ApiError> {
    static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
        Arc::new(
            Config::new(["/openapi.json"])
                // The default validator badge loads from validator.swagger.io: no network here.
                .validator_url("none")
                .persist_authorization(true),
        )
    });
    utoipa_swagger_ui::serve(path, CONFIG.clone()).map_err(|e| ApiError::internal(e.to_string()))
}

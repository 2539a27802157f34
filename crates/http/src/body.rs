//! Reading small request bodies: JSON (`application/json`, `*/*+json`, or no `Content-Type`) and,
//! for the clients of the original DRF service, `application/x-www-form-urlencoded`. Streams the
//! body with a hard cap, then deserializes.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use being_social_domain::{DomainError, FieldErrors};
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;
use serde_aux::serde_introspection::serde_introspect;
use serde_json::{Map, Value};

use crate::error::{ApiError, payload_error};

/// How a request body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Json,
    Form,
    Multipart,
    /// No `Content-Type`: read as JSON (an empty body is `{}`).
    Missing,
    Other(String),
}

pub(crate) fn body_kind(req: &HttpRequest) -> BodyKind {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return BodyKind::Missing;
    };
    let Ok(value) = value.to_str() else {
        return BodyKind::Other("(invalid)".into());
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "" => BodyKind::Missing,
        "application/json" => BodyKind::Json,
        "application/x-www-form-urlencoded" => BodyKind::Form,
        "multipart/form-data" => BodyKind::Multipart,
        other if other.ends_with("+json") => BodyKind::Json,
        other => BodyKind::Other(other.to_owned()),
    }
}

pub(crate) fn unsupported(kind: &BodyKind) -> ApiError {
    let name = match kind {
        BodyKind::Json => "application/json",
        BodyKind::Form => "application/x-www-form-urlencoded",
        BodyKind::Multipart => "multipart/form-data",
        BodyKind::Missing => "(none)",
        BodyKind::Other(name) => name.as_str(),
    };
    ApiError::UnsupportedMediaType(format!("Unsupported media type \"{name}\" in request."))
}

/// Reads the whole body, refusing with `413` as soon as it is over `limit` bytes.
pub(crate) async fn read_capped(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let too_large =
        || ApiError::payload_too_large(format!("The request body is larger than {limit} bytes."));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(payload_error)?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body's fields as a JSON object. JSON must be an object; a url-encoded form gives string
/// values (the last one of a repeated name).
pub(crate) async fn read_object(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Map<String, Value>, ApiError> {
    let kind = body_kind(req);
    match kind {
        BodyKind::Json | BodyKind::Missing => {
            let bytes = read_capped(req, payload, limit).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Map::new());
            }
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err(ApiError::Parse("The JSON body must be an object.".into())),
                Err(err) => Err(ApiError::Parse(format!("Malformed JSON: {err}."))),
            }
        }
        BodyKind::Form => {
            let bytes = read_capped(req, payload, limit).await?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| ApiError::Parse("The form body is not UTF-8.".into()))?;
            let pairs = web::Query::<Vec<(String, String)>>::from_query(text)
                .map_err(|err| ApiError::Parse(format!("Malformed form body: {err}.")))?
                .into_inner();
            Ok(pairs
                .into_iter()
                .map(|(name, value)| (name, Value::String(value)))
                .collect())
        }
        BodyKind::Multipart | BodyKind::Other(_) => Err(unsupported(&kind)),
    }
}

/// Deserializes the fields into `T` (unknown fields ignored). A field of the wrong JSON type is a
/// validation error that names it, beside every other wrong one, as DRF answers.
///
/// `T`'s fields must each be optional, as every request type's are (the services say which are
/// required): each field is then tried alone to find the wrong ones.
pub(crate) fn decode<T: DeserializeOwned>(fields: Map<String, Value>) -> Result<T, ApiError> {
    let whole = match serde_json::from_value(Value::Object(fields.clone())) {
        Ok(decoded) => return Ok(decoded),
        Err(err) => err,
    };
    let mut errors = FieldErrors::default();
    for &name in serde_introspect::<T>() {
        let Some(value) = fields.get(name) else {
            continue;
        };
        let alone = Map::from_iter([(name.to_owned(), value.clone())]);
        if let Err(err) = serde_json::from_value::<T>(Value::Object(alone)) {
            errors.add(name, wrong_type_message(&err));
        }
    }
    if errors.is_empty() {
        return Err(ApiError::Parse(format!("Invalid body: {whole}.")));
    }
    Err(ApiError::Domain(DomainError::Validation(errors)))
}

/// DRF's words for the usual case (a text field given a number, a list or an object), serde's
/// otherwise.
fn wrong_type_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    if text.ends_with("expected a string") {
        return "Not a valid string.".into();
    }
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}

/// [`read_object`] then [`decode`].
pub(crate) async fn read<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    decode(read_object(req, payload, limit).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Signup {
        email: Option<String>,
        full_name: Option<String>,
        password: Option<String>,
    }

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn every_field_of_a_wrong_type_is_named() {
        let body = serde_json::json!({
            "email": 12345, "full_name": ["a"], "password": {"x": 1}, "other": 1
        });
        let Err(ApiError::Domain(DomainError::Validation(errors))) = decode::<Signup>(fields(body))
        else {
            panic!("expected a validation error");
        };
        let named: Vec<_> = errors.iter().collect();
        let not_a_string = ["Not a valid string.".to_owned()];
        assert_eq!(
            named,
            [
                ("email", &not_a_string[..]),
                ("full_name", &not_a_string[..]),
                ("password", &not_a_string[..]),
            ]
        );
        let right = serde_json::json!({"email": "a@b.c", "full_name": null, "other": [1]});
        assert!(decode::<Signup>(fields(right)).is_ok());
    }

    #[test]
    fn kinds() {
        let kind = |ct: &str| {
            body_kind(
                &TestRequest::default()
                    .insert_header(("content-type", ct))
                    .to_http_request(),
            )
        };
        assert_eq!(kind("application/json; charset=utf-8"), BodyKind::Json);
        assert_eq!(kind("Application/JSON"), BodyKind::Json);
        assert_eq!(kind("application/vnd.api+json"), BodyKind::Json);
        assert_eq!(kind("multipart/form-data; boundary=x"), BodyKind::Multipart);
        assert_eq!(kind("text/plain"), BodyKind::Other("text/plain".into()));
        assert_eq!(
            body_kind(&TestRequest::default().to_http_request()),
            BodyKind::Missing
        );
    }
}

//! Streaming `multipart/form-data` reader with hard limits.
//!
//! The raw body is counted as it arrives: once it exceeds the upload limit plus
//! [`FORM_OVERHEAD_BYTES`] reading stops and the request is answered `413`, without buffering
//! the rest. Each file field is capped at the upload limit and each text field at
//! [`TEXT_FIELD_MAX_BYTES`], both also `413` as soon as they go over. Fields the endpoint does not
//! know are read and dropped (still within the body cap).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_multipart::{Multipart, MultipartError};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::{HttpRequest, web};
use being_social_domain::DomainError;
use futures_util::StreamExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::body::{BodyKind, body_kind, unsupported};
use crate::error::{ApiError, payload_error};

/// The most bytes one text field may have.
pub const TEXT_FIELD_MAX_BYTES: usize = 16 * 1024;

/// What the whole body may carry beyond the file: text fields and the multipart framing.
pub const FORM_OVERHEAD_BYTES: usize = 256 * 1024;

/// The fields an endpoint reads.
#[derive(Debug, Clone, Copy)]
pub struct FormSpec {
    pub files: &'static [&'static str],
    pub texts: &'static [&'static str],
}

const MIB: usize = 1024 * 1024;

/// The memory all upload bodies of the process may hold at once. A body is read only once its
/// declared length (the largest body when it declares none) is reserved here, and the reservation
/// lasts until its picture is processed: without it, each of `max_connections` authenticated
/// uploads could hold `max_upload_bytes`, and a few hundred of them the machine's memory.
#[derive(Debug, Clone)]
pub struct UploadMemory {
    mebibytes: Arc<Semaphore>,
    total: u32,
    wait: Duration,
}

/// What an upload holds while its body is in memory.
#[derive(Debug)]
pub struct UploadReservation {
    _permit: OwnedSemaphorePermit,
}

impl UploadMemory {
    pub const DEFAULT_BYTES: u64 = 64 * MIB as u64;

    /// `bytes` (at least one largest upload, `max_body`) shared by every upload, each waiting at
    /// most `wait` for its share.
    pub fn new(bytes: u64, max_body: usize, wait: Duration) -> Self {
        let floor = max_body.div_ceil(MIB);
        let total = usize::try_from(bytes)
            .unwrap_or(usize::MAX)
            .div_ceil(MIB)
            .max(floor)
            .min(Semaphore::MAX_PERMITS);
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        Self {
            mebibytes: Arc::new(Semaphore::new(total as usize)),
            total,
            wait,
        }
    }

    /// Reserves `bytes` (whole MiB, at most the total), waiting while other uploads hold it.
    ///
    /// # Errors
    /// `503 overloaded` if the memory is not free within the wait.
    pub async fn reserve(&self, bytes: usize) -> Result<UploadReservation, ApiError> {
        let wanted = u32::try_from(bytes.div_ceil(MIB).max(1))
            .unwrap_or(u32::MAX)
            .min(self.total);
        let acquire = self.mebibytes.clone().acquire_many_owned(wanted);
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Ok(UploadReservation { _permit: permit }),
            _ => Err(DomainError::Overloaded(
                "Too many uploads are in progress. Try again in a moment.",
            )
            .into()),
        }
    }

    /// MiB not held by any upload now.
    pub fn available_mebibytes(&self) -> usize {
        self.mebibytes.available_permits()
    }
}

/// The fields read, each name's values in the order they came ([`FormData::files`],
/// [`FormData::texts`]); read one at a time, a repeated field gives its last value.
#[derive(Debug)]
pub struct FormData {
    texts: HashMap<&'static str, Vec<String>>,
    files: HashMap<&'static str, Vec<Vec<u8>>>,
    held: UploadReservation,
}

impl FormData {
    /// The body's share of [`UploadMemory`]: keep it until the files are processed.
    pub fn into_reservation(self) -> UploadReservation {
        self.held
    }

    /// The field's last value.
    pub fn text(&mut self, name: &str) -> Option<String> {
        self.texts.remove(name).and_then(|mut values| values.pop())
    }

    /// Every value of the field, in the order they came.
    pub fn texts(&mut self, name: &str) -> Vec<String> {
        self.texts.remove(name).unwrap_or_default()
    }

    pub fn has_file(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// The bytes of the field's last file; a file field sent empty is a validation error on it.
    ///
    /// # Errors
    /// `Validation` for an empty file.
    pub fn file(&mut self, name: &'static str) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(self.files(name)?.pop())
    }

    /// The bytes of every file of the field, in the order they came.
    ///
    /// # Errors
    /// `Validation` if any of them is empty.
    pub fn files(&mut self, name: &'static str) -> Result<Vec<Vec<u8>>, ApiError> {
        let files = self.files.remove(name).unwrap_or_default();
        if files.iter().any(Vec::is_empty) {
            return Err(ApiError::validation(name, "The submitted file is empty."));
        }
        Ok(files)
    }
}

/// Whether the request says it is `multipart/form-data`.
pub fn is_multipart(req: &HttpRequest) -> bool {
    body_kind(req) == BodyKind::Multipart
}

enum Target {
    File(&'static str),
    Text(&'static str),
    Skip,
}

fn multipart_error(err: MultipartError) -> ApiError {
    match err {
        MultipartError::Payload(err) => payload_error(err),
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => {
            unsupported(&BodyKind::Other("(not multipart/form-data)".into()))
        }
        other => ApiError::Parse(format!("Malformed multipart body: {other}.")),
    }
}

/// Reads the form. A request that is not `multipart/form-data` is answered `415`.
///
/// # Errors
/// `415` for another content type, `413` over a limit, `400 parse_error` for a broken body,
/// a validation error for a text field that is not UTF-8, `503 overloaded` when the uploads in
/// progress hold [`UploadMemory`] for longer than its wait.
pub async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    spec: FormSpec,
    max_file_bytes: usize,
    memory: &UploadMemory,
) -> Result<FormData, ApiError> {
    let kind = body_kind(req);
    if kind != BodyKind::Multipart {
        return Err(unsupported(&kind));
    }
    let body_cap = max_file_bytes.saturating_add(FORM_OVERHEAD_BYTES);
    let too_large = || {
        ApiError::payload_too_large(format!("The upload is larger than {max_file_bytes} bytes."))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > body_cap) {
        return Err(too_large());
    }
    let held = memory.reserve(declared.unwrap_or(body_cap)).await?;

    let mut received = 0usize;
    let capped = payload.map(move |chunk| {
        let chunk = chunk?;
        received = received.saturating_add(chunk.len());
        if received > body_cap {
            Err(PayloadError::Overflow)
        } else {
            Ok(chunk)
        }
    });
    let mut multipart = Multipart::new(req.headers(), capped);
    let mut form = FormData {
        texts: HashMap::new(),
        files: HashMap::new(),
        held,
    };

    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|err| match err {
            MultipartError::Payload(PayloadError::Overflow) => too_large(),
            other => multipart_error(other),
        })?;
        let name = field.name().unwrap_or_default();
        let target = if let Some(name) = spec.files.iter().find(|f| **f == name) {
            Target::File(name)
        } else if let Some(name) = spec.texts.iter().find(|f| **f == name) {
            Target::Text(name)
        } else {
            Target::Skip
        };
        let cap = match target {
            Target::File(_) => max_file_bytes,
            Target::Text(_) => TEXT_FIELD_MAX_BYTES,
            Target::Skip => usize::MAX,
        };
        // A file is read into one buffer sized by the declared length (within its cap), not one
        // that doubles as it grows: ten concurrent 10 MiB uploads hold 100 MiB, not up to 240.
        // With several files, each is at most what the body has left.
        let mut bytes = match target {
            Target::File(_) => {
                let held: usize = form.files.values().flatten().map(Vec::len).sum();
                Vec::with_capacity(declared.unwrap_or(0).saturating_sub(held).min(cap))
            }
            _ => Vec::new(),
        };
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|err| match err {
                MultipartError::Payload(PayloadError::Overflow) => too_large(),
                other => multipart_error(other),
            })?;
            if matches!(target, Target::Skip) {
                continue;
            }
            if bytes.len().saturating_add(chunk.len()) > cap {
                return Err(match target {
                    Target::Text(name) => ApiError::payload_too_large(format!(
                        "The field \"{name}\" is larger than {TEXT_FIELD_MAX_BYTES} bytes."
                    )),
                    _ => too_large(),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        match target {
            Target::File(name) => {
                form.files.entry(name).or_default().push(bytes);
            }
            Target::Text(name) => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| ApiError::validation(name, "The value is not UTF-8 text."))?;
                form.texts.entry(name).or_default().push(text);
            }
            Target::Skip => {}
        }
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;
    use actix_web::{FromRequest, ResponseError};

    const SPEC: FormSpec = FormSpec {
        files: &["image"],
        texts: &["caption"],
    };

    fn body(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in parts {
            out.extend_from_slice(
                format!(
                    "--XB\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f\"\r\n\r\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XB--\r\n");
        out
    }

    async fn read(bytes: Vec<u8>, content_type: &str, max: usize) -> Result<FormData, ApiError> {
        let (req, payload) = TestRequest::post()
            .insert_header(("content-type", content_type))
            .set_payload(bytes)
            .to_http_parts();
        read_with_cap(&req, payload, max).await
    }

    /// The form of `payload`, with uploads capped at `max` bytes.
    async fn read_with_cap(
        req: &HttpRequest,
        mut payload: actix_web::dev::Payload,
        max: usize,
    ) -> Result<FormData, ApiError> {
        let payload = web::Payload::from_request(req, &mut payload)
            .await
            .unwrap_or_else(|_| panic!("payload"));
        let memory = UploadMemory::new(0, max + FORM_OVERHEAD_BYTES, Duration::from_secs(1));
        read_form(req, payload, SPEC, max, &memory).await
    }

    #[actix_web::test]
    async fn reads_known_fields_and_skips_others() {
        let bytes = body(&[("image", b"\x89PNG"), ("other", b"zzz"), ("caption", b"hi")]);
        let form = read(bytes, "multipart/form-data; boundary=XB", 100).await;
        let Ok(mut form) = form else {
            panic!("read failed: {form:?}")
        };
        assert_eq!(form.text("caption").as_deref(), Some("hi"));
        assert_eq!(form.file("image").ok().flatten(), Some(b"\x89PNG".to_vec()));
        assert!(!form.has_file("other"));
    }

    #[actix_web::test]
    async fn repeated_fields_keep_their_order() {
        let bytes = body(&[
            ("image", b"one"),
            ("caption", b"a"),
            ("image", b"two"),
            ("caption", b"b"),
            ("image", b"three"),
        ]);
        let form = read(bytes, "multipart/form-data; boundary=XB", 100).await;
        let Ok(mut form) = form else {
            panic!("read failed: {form:?}")
        };
        assert_eq!(form.texts("caption"), ["a", "b"]);
        assert!(form.texts("caption").is_empty());
        let files = form.files("image").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(files, [&b"one"[..], b"two", b"three"]);

        // One empty file among them is a validation error.
        let bytes = body(&[("image", b"one"), ("image", b"")]);
        let form = read(bytes, "multipart/form-data; boundary=XB", 100).await;
        let Ok(mut form) = form else {
            panic!("read failed: {form:?}")
        };
        assert!(form.files("image").is_err());
    }

    fn assert_too_large(form: Result<FormData, ApiError>) {
        let status = form.err().map(|e| e.status_code());
        assert_eq!(status, Some(StatusCode::PAYLOAD_TOO_LARGE));
    }

    #[actix_web::test]
    async fn a_file_over_the_limit_is_413() {
        let bytes = body(&[("image", &[0u8; 200])]);
        assert_too_large(read(bytes, "multipart/form-data; boundary=XB", 100).await);
    }

    #[actix_web::test]
    async fn a_body_over_the_cap_is_413_even_in_unknown_fields() {
        let big = vec![b'a'; FORM_OVERHEAD_BYTES + 200];
        let bytes = body(&[("junk", &big)]);
        assert_too_large(read(bytes, "multipart/form-data; boundary=XB", 100).await);
    }

    /// A chunked body that never ends, starting a field named `name`: only a cap stops it.
    async fn endless(name: &str, max: usize) -> Result<FormData, ApiError> {
        use actix_web::web::Bytes;
        use futures_util::stream;
        let head = format!(
            "--XB\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f\"\r\n\r\n"
        );
        let chunks = stream::once(async move { Ok(Bytes::from(head)) })
            .chain(stream::repeat_with(|| Ok(Bytes::from(vec![b'a'; 8192]))));
        let req = TestRequest::post()
            .insert_header(("content-type", "multipart/form-data; boundary=XB"))
            .to_http_request();
        let payload: actix_web::dev::Payload = actix_web::dev::Payload::Stream {
            payload: Box::pin(chunks),
        };
        read_with_cap(&req, payload, max).await
    }

    #[actix_web::test]
    async fn an_endless_upload_is_cut_off() {
        for name in ["image", "caption", "junk"] {
            let err = endless(name, 100_000).await.err();
            assert_eq!(
                err.map(|e| e.status_code()),
                Some(StatusCode::PAYLOAD_TOO_LARGE),
                "{name}"
            );
        }
    }

    #[actix_web::test]
    async fn not_multipart_is_415() {
        let err = read(b"{}".to_vec(), "application/json", 100).await.err();
        assert_eq!(
            err.map(|e| e.status_code()),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
    }

    #[actix_web::test]
    async fn uploads_share_their_memory_and_wait_for_it() {
        let memory = UploadMemory::new(8 * MIB as u64, MIB, Duration::from_millis(100));
        let first = memory
            .reserve(5 * MIB)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let _second = memory
            .reserve(3 * MIB)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(memory.available_mebibytes(), 0);
        let refused = memory.reserve(1).await.map(drop);
        assert_eq!(
            refused.map_err(|e| e.status_code()),
            Err(StatusCode::SERVICE_UNAVAILABLE)
        );
        // A waiting upload goes ahead as soon as the memory is given back.
        let waiting = {
            let memory = memory.clone();
            actix_web::rt::spawn(async move { memory.reserve(5 * MIB).await.map(drop) })
        };
        drop(first);
        assert!(waiting.await.unwrap_or_else(|e| panic!("{e}")).is_ok());
        assert_eq!(memory.available_mebibytes(), 5);
    }

    #[actix_web::test]
    async fn the_largest_upload_always_fits() {
        // However small the setting, one largest body fits, and a body larger than the whole
        // memory (only possible without a declared length) takes all of it rather than waiting
        // forever.
        let memory = UploadMemory::new(0, 3 * MIB + 1, Duration::from_millis(50));
        assert_eq!(memory.available_mebibytes(), 4);
        let all = memory
            .reserve(100 * MIB)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(memory.available_mebibytes(), 0);
        drop(all);
        assert_eq!(memory.available_mebibytes(), 4);
    }

    #[actix_web::test]
    async fn a_form_holds_its_memory_until_its_reservation_is_dropped() {
        let memory = UploadMemory::new(4 * MIB as u64, MIB, Duration::from_millis(50));
        let bytes = body(&[("image", b"abc")]);
        let (req, mut payload) = TestRequest::post()
            .insert_header(("content-type", "multipart/form-data; boundary=XB"))
            .insert_header(("content-length", bytes.len().to_string()))
            .set_payload(bytes)
            .to_http_parts();
        let payload = web::Payload::from_request(&req, &mut payload)
            .await
            .unwrap_or_else(|_| panic!("payload"));
        let mut form = read_form(&req, payload, SPEC, MIB, &memory)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            memory.available_mebibytes(),
            3,
            "a small body holds one MiB"
        );
        assert_eq!(
            form.file("image").ok().flatten().as_deref(),
            Some(&b"abc"[..])
        );
        let held = form.into_reservation();
        assert_eq!(memory.available_mebibytes(), 3);
        drop(held);
        assert_eq!(memory.available_mebibytes(), 4);
    }
}

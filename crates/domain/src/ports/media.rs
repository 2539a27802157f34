//! Pictures: where their files live, and how uploads become them.

use async_trait::async_trait;

use crate::Result;
use crate::model::{ImageFormat, ImagePurpose, ProcessedImage, StoredMedia};

/// Where pictures live. Keys are chosen by the store, never by a client; a key that is not of the
/// store's own format is answered `None` without touching the storage.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Stores the bytes durably (written, flushed, then made visible at once) under a new key,
    /// which it returns. With `beside` (a key this store issued), the new key is
    /// [`sibling_key`]`(beside, format)`: the same picture in another format, found from the
    /// first key (`/media/{key}` answers the WebP beside a JPEG to clients that accept it).
    ///
    /// # Errors
    /// `Internal` when `beside` is not a key of this store.
    ///
    /// [`sibling_key`]: crate::model::sibling_key
    async fn put(
        &self,
        bytes: Vec<u8>,
        format: ImageFormat,
        beside: Option<String>,
    ) -> Result<String>;

    /// The bytes and content type under the key, or `None`.
    async fn get(&self, key: &str) -> Result<Option<StoredMedia>>;

    /// Removes the keys; missing keys are ignored.
    async fn delete(&self, keys: Vec<String>) -> Result<()>;
}

/// Decodes, orients, resizes and re-encodes pictures, without any metadata.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ImageProcessor: Send + Sync {
    /// # Errors
    /// MUST return `UnsupportedMediaType` if the bytes are not a JPEG, PNG, WebP or GIF image,
    /// `BadRequest { code: "image_too_large", .. }` if the picture has more pixels than allowed
    /// (or needs more memory than the processor gives one picture), `BadRequest { code:
    /// "image_bad_shape", .. }` if its long edge or aspect ratio is over the limit, and
    /// `Overloaded` if the processor has no room for it within its wait.
    async fn process(&self, bytes: Vec<u8>, purpose: ImagePurpose) -> Result<ProcessedImage>;

    /// Whether [`Self::process`] would take `bytes`, judged from the header alone (format, size,
    /// shape, memory) without decoding anything: a post of several pictures refuses a bad one
    /// before any of them is processed. Reading a header costs microseconds.
    ///
    /// # Errors
    /// As [`Self::process`], but never `Overloaded`; a picture that passes may still fail there
    /// (a header followed by broken data).
    fn check(&self, bytes: &[u8], purpose: ImagePurpose) -> Result<()>;
}

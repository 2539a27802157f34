//! Pictures: where their files live, and how uploads become them.

use std::ops::Range;

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

    /// The picture under the key opened for reading, its bytes to come in chunks: all of them,
    /// or those of `range` (an HTTP `Range`). `None` when there is no such picture.
    ///
    /// The default reads the whole picture with [`MediaStore::get`] and hands out one chunk.
    async fn open(&self, key: &str, range: Option<ByteRange>) -> Result<Option<MediaRead>> {
        let Some(stored) = self.get(key).await? else {
            return Ok(None);
        };
        Ok(Some(MediaRead::whole_or_range(
            stored.bytes,
            stored.content_type,
            range,
        )))
    }

    /// Whether the store answers now (`/readyz`).
    async fn ready(&self) -> bool {
        true
    }
}

/// A part of a stored picture, as an HTTP `Range` of bytes asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// From this offset to the end (`bytes=500-`).
    From(u64),
    /// From the first offset to the second, both included (`bytes=0-499`).
    Inclusive(u64, u64),
    /// The last so many bytes (`bytes=-500`).
    Suffix(u64),
}

impl ByteRange {
    /// The offsets `start..end` this range covers in an object of `size` bytes (a range that
    /// runs past the end is cut there), or `None` if it covers none of them (HTTP `416`).
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        let range = match self {
            Self::From(start) => start..size,
            Self::Inclusive(start, last) if last >= start => {
                start..last.saturating_add(1).min(size)
            }
            Self::Inclusive(..) => return None,
            Self::Suffix(n) => size.saturating_sub(n)..size,
        };
        (range.start < range.end).then_some(range)
    }
}

/// The chunks of a picture being read, as they arrive from the store.
#[async_trait]
pub trait MediaBody: Send {
    /// The next chunk, or `None` after the last.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>>;
}

/// A picture opened by [`MediaStore::open`].
pub struct MediaRead {
    pub content_type: &'static str,
    /// The size of the whole picture.
    pub size: u64,
    /// The offsets whose bytes `body` holds: `0..size` without a range; `None` when the range
    /// asked for covers none (`body` is then empty).
    pub range: Option<Range<u64>>,
    pub body: Box<dyn MediaBody>,
}

impl std::fmt::Debug for MediaRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaRead")
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// A body already in memory, handed out in one chunk.
struct InMemory(Option<Vec<u8>>);

#[async_trait]
impl MediaBody for InMemory {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(self.0.take().filter(|bytes| !bytes.is_empty()))
    }
}

impl MediaRead {
    /// The whole of `bytes`, or the part `range` asks for, as one chunk.
    pub fn whole_or_range(
        mut bytes: Vec<u8>,
        content_type: &'static str,
        range: Option<ByteRange>,
    ) -> Self {
        let size = bytes.len() as u64;
        let range = match range {
            None => Some(0..size),
            Some(asked) => asked.resolve(size),
        };
        let body = match &range {
            Some(r) => {
                // Offsets within a Vec's length fit in usize.
                let (start, end) = (r.start as usize, r.end as usize);
                bytes.truncate(end);
                bytes.drain(..start);
                bytes
            }
            None => Vec::new(),
        };
        Self {
            content_type,
            size,
            range,
            body: Box::new(InMemory(Some(body))),
        }
    }

    /// The answer to a range that covers none of the `size` bytes: no body.
    pub fn unsatisfiable(content_type: &'static str, size: u64) -> Self {
        Self {
            content_type,
            size,
            range: None,
            body: Box::new(InMemory(None)),
        }
    }

    /// Reads the rest of the body into memory.
    ///
    /// # Errors
    /// The store's, if a chunk cannot be read.
    pub async fn collect(mut self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        while let Some(chunk) = self.body.next_chunk().await? {
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(ByteRange::From(2).resolve(10), Some(2..10));
        assert_eq!(ByteRange::From(10).resolve(10), None);
        assert_eq!(ByteRange::Inclusive(0, 0).resolve(10), Some(0..1));
        assert_eq!(ByteRange::Inclusive(5, 100).resolve(10), Some(5..10));
        assert_eq!(ByteRange::Inclusive(5, 4).resolve(10), None);
        assert_eq!(ByteRange::Suffix(3).resolve(10), Some(7..10));
        assert_eq!(ByteRange::Suffix(30).resolve(10), Some(0..10));
        assert_eq!(ByteRange::Suffix(0).resolve(10), None);
        assert_eq!(ByteRange::From(0).resolve(0), None);
    }

    #[tokio::test]
    async fn in_memory_reads_cut_the_range() {
        let read = MediaRead::whole_or_range((0..10).collect(), "image/png", None);
        assert_eq!(read.range, Some(0..10));
        assert_eq!(read.collect().await.ok(), Some((0..10).collect()));
        let read = MediaRead::whole_or_range(
            (0..10).collect(),
            "image/png",
            Some(ByteRange::Inclusive(2, 4)),
        );
        assert_eq!((read.size, read.range.clone()), (10, Some(2..5)));
        assert_eq!(read.collect().await.ok(), Some(vec![2, 3, 4]));
        let read = MediaRead::whole_or_range(vec![1, 2], "image/png", Some(ByteRange::From(5)));
        assert_eq!(read.range, None);
        assert_eq!(read.collect().await.ok(), Some(vec![]));
    }
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

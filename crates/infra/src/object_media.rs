//! Pictures in an object store, through the `object_store` crate: a directory of the local disk
//! (`file://PATH`, one node) or an S3-compatible bucket (`s3://BUCKET/PREFIX`, any number of
//! nodes, each serving every picture).
//!
//! Keys are those of [`crate::media`] (`<32 lowercase hex>.<ext>`, 128 random bits), stored at
//! `<prefix>/<first two characters>/<key>`: on the local disk the same files as before. In a
//! bucket every object is written with its `Content-Type` and `Cache-Control` (immutable for a
//! year: a key never names other bytes), so that the bucket or a CDN in front of it can serve it
//! directly (`media_public_url`).
//!
//! Every call is bounded by the store's timeout and answers `Unavailable` past it or on any
//! failure of the store, so that a store that is down costs requests a `503`, never a hang.
//! Errors name neither credentials nor keys in what may reach a response; the log lines carry
//! the details (object paths, never credentials).

use std::fmt;
use std::io;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use being_social_domain::model::{ImageFormat, StoredMedia, sibling_key};
use being_social_domain::ports::{ByteRange, MediaBody, MediaRead, MediaStore};
use being_social_domain::{DomainError, Result};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ClientOptions, GetOptions, GetRange, GetResultPayload, ObjectStore,
    ObjectStoreExt, PutOptions, PutPayload, RetryConfig,
};
use rand::TryRng;

use crate::media::{KEY_HEX_LEN, is_valid_key};

/// Where pictures are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaStoreUrl {
    /// `file://PATH`: a directory of this machine.
    File(PathBuf),
    /// `s3://BUCKET/PREFIX`: an S3-compatible bucket.
    S3 { bucket: String, prefix: String },
}

impl MediaStoreUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("file://") {
            return match path {
                "" => Err("file:// needs a path".into()),
                path => Ok(Self::File(path.into())),
            };
        }
        let Some(rest) = text.strip_prefix("s3://") else {
            return Err("expected file://PATH or s3://BUCKET/PREFIX".into());
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err("expected s3://BUCKET/PREFIX with a bucket name of 3 to 63 lowercase letters, digits, dots and dashes".into());
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }
}

/// `Cache-Control` of every object: its key never names other bytes.
pub const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

/// Where an S3-compatible bucket is and how to sign requests to it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Objects live under this prefix (no leading or trailing slash; may be empty).
    pub prefix: String,
    /// `http(s)://HOST:PORT` of a server other than AWS (SeaweedFS, MinIO, R2, ...); path-style
    /// requests are used with it.
    pub endpoint: Option<String>,
    pub region: String,
    /// Both or neither: without them, requests are not signed (a public or anonymous bucket).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "***"))
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// [`MediaStore`] over an `object_store` store.
#[derive(Clone)]
pub struct ObjectMediaStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// The directory of a local store: written files are synced to disk there (an object store
    /// is durable once it has answered).
    local_root: Option<Arc<PathBuf>>,
    timeout: Duration,
    /// What `Display` shows: the scheme and place, never credentials.
    description: String,
}

impl fmt::Debug for ObjectMediaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl fmt::Display for ObjectMediaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

fn random_hex<const N: usize>() -> io::Result<String> {
    let mut bytes = [0u8; N];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(io::Error::other)?;
    Ok(hex::encode(bytes))
}

fn unavailable(action: &str, err: &dyn fmt::Display) -> DomainError {
    DomainError::Unavailable(format!("media storage could not {action}: {err}"))
}

impl ObjectMediaStore {
    /// A store in the directory `dir`, created (with its parents) if missing.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn local(dir: PathBuf, timeout: Duration) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let store = LocalFileSystem::new_with_prefix(&dir).map_err(io::Error::other)?;
        Ok(Self {
            store: Arc::new(store),
            prefix: Path::default(),
            description: format!("file://{}", dir.display()),
            local_root: Some(Arc::new(dir)),
            timeout,
        })
    }

    /// A store in an S3-compatible bucket. Nothing is sent before the first use.
    ///
    /// # Errors
    /// When the settings cannot make a client (the message names no credential).
    pub fn s3(config: &S3Config, timeout: Duration) -> Result<Self, String> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(timeout)
                    .with_connect_timeout(timeout.min(Duration::from_secs(2)))
                    .with_allow_http(true),
            )
            // A failing store is answered 503 at once rather than retried for minutes.
            .with_retry(RetryConfig {
                max_retries: 1,
                retry_timeout: timeout,
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        match (&config.access_key_id, &config.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret);
            }
            (None, None) => builder = builder.with_skip_signature(true),
            _ => {
                return Err(
                    "set both the S3 access key id and secret access key, or neither".into(),
                );
            }
        }
        let store = builder.build().map_err(|err| {
            format!(
                "cannot make an S3 client: {}",
                redact(&err.to_string(), config)
            )
        })?;
        let prefix = config.prefix.trim_matches('/');
        Ok(Self {
            store: Arc::new(store),
            prefix: Path::from(prefix),
            local_root: None,
            timeout,
            description: format!("s3://{}/{prefix}", config.bucket),
        })
    }

    /// The object path of a key already checked with [`is_valid_key`].
    fn path(&self, key: &str) -> Path {
        let shard = key.get(..2).unwrap_or_default();
        self.prefix.clone().join(shard).join(key)
    }

    async fn bounded<T>(&self, action: &'static str, work: impl Future<Output = T>) -> Result<T> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => Ok(result),
            Err(_) => {
                tracing::error!(store = %self.description, action, "media storage did not answer in time");
                Err(DomainError::Unavailable(format!(
                    "media storage could not {action}: no answer within {} ms",
                    self.timeout.as_millis()
                )))
            }
        }
    }

    /// Every file of the shard `shard` (the first two characters of its keys), with when it was
    /// written: its key, or `None` for a name of another shape (a temporary file of a write
    /// that never finished), which is left alone.
    ///
    /// # Errors
    /// `Unavailable` when the store does not answer, or not within its timeout for any one file
    /// (an S3 listing is a request per thousand files).
    pub async fn list_shard(&self, shard: &str) -> Result<Vec<(Option<String>, SystemTime)>> {
        let prefix = self.prefix.clone().join(shard);
        let mut listing = self.store.list(Some(&prefix));
        let mut files = Vec::new();
        while let Some(meta) = self.bounded("list its files", listing.next()).await? {
            let meta = meta.map_err(|e| {
                tracing::error!(store = %self.description, error = %e, "could not list media");
                unavailable("list its files", &e)
            })?;
            let key = meta.location.filename().filter(|name| is_valid_key(name));
            files.push((key.map(str::to_owned), SystemTime::from(meta.last_modified)));
        }
        Ok(files)
    }

    /// What a read of `path` answered: `None` when there is no such object, `Unavailable` (and a
    /// log line) when the store failed.
    fn found<T>(&self, path: &Path, read: object_store::Result<T>) -> Result<Option<T>> {
        match read {
            Ok(found) => Ok(Some(found)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => {
                tracing::error!(store = %self.description, %path, error = %err, "could not read media");
                Err(unavailable("read an object", &err))
            }
        }
    }

    /// Makes a new local file and its directory entry durable.
    async fn sync_local(&self, key: &str) -> Result<()> {
        let Some(root) = self.local_root.clone() else {
            return Ok(());
        };
        let shard = root.join(key.get(..2).unwrap_or_default());
        let file = shard.join(key);
        let synced = tokio::task::spawn_blocking(move || -> io::Result<()> {
            std::fs::File::open(&file)?.sync_all()?;
            sync_dir(&shard)?;
            sync_dir(&root)
        })
        .await
        .map_err(|e| DomainError::internal(format!("media storage task failed: {e}")))?;
        synced.map_err(|e| {
            tracing::error!(store = %self.description, error = %e, "could not sync media to disk");
            unavailable("sync a file", &e)
        })
    }
}

fn sync_dir(dir: &FsPath) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// `text` with the credentials of `config` blanked out, in case a library repeats them.
fn redact(text: &str, config: &S3Config) -> String {
    let mut text = text.to_owned();
    for secret in [&config.access_key_id, &config.secret_access_key]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
    {
        text = text.replace(secret.as_str(), "***");
    }
    text
}

/// The chunks of an object as they arrive, each bounded by the store's timeout.
struct ObjectBody {
    stream: BoxStream<'static, object_store::Result<bytes::Bytes>>,
    timeout: Duration,
}

#[async_trait]
impl MediaBody for ObjectBody {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        match tokio::time::timeout(self.timeout, self.stream.next()).await {
            Ok(None) => Ok(None),
            Ok(Some(Ok(chunk))) => Ok(Some(Vec::from(chunk))),
            Ok(Some(Err(err))) => Err(unavailable("read an object", &err)),
            Err(_) => Err(DomainError::Unavailable(
                "media storage could not read an object: no data in time".into(),
            )),
        }
    }
}

/// A local file's bytes `at..end`, read on the blocking pool [`FILE_CHUNK`] bytes at a time:
/// object_store's own stream of a local file reads 8 KiB per blocking task, which served a
/// 114 kB picture about 8 times slower than a bucket on the same machine (docs/benchmarks.md,
/// "Beyond one machine").
struct FileBody {
    file: Option<std::fs::File>,
    at: u64,
    end: u64,
}

const FILE_CHUNK: u64 = 256 * 1024;

#[async_trait]
impl MediaBody for FileBody {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let len = (self.end - self.at).min(FILE_CHUNK);
        let Some(mut file) = self.file.take().filter(|_| len > 0) else {
            return Ok(None);
        };
        let at = self.at;
        let read = tokio::task::spawn_blocking(move || -> io::Result<(std::fs::File, Vec<u8>)> {
            use std::io::{Read as _, Seek as _};
            file.seek(io::SeekFrom::Start(at))?;
            let mut chunk = vec![0; usize::try_from(len).map_err(io::Error::other)?];
            file.read_exact(&mut chunk)?;
            Ok((file, chunk))
        })
        .await
        .map_err(|e| DomainError::internal(format!("media storage task failed: {e}")))?;
        let (file, chunk) = read.map_err(|e| unavailable("read an object", &e))?;
        self.at += len;
        self.file = Some(file);
        Ok(Some(chunk))
    }
}

#[async_trait]
impl MediaStore for ObjectMediaStore {
    async fn put(
        &self,
        bytes: Vec<u8>,
        format: ImageFormat,
        beside: Option<String>,
    ) -> Result<String> {
        let key = match beside {
            Some(beside) => sibling_key(&beside, format)
                .filter(|key| is_valid_key(&beside) && is_valid_key(key))
                .ok_or_else(|| DomainError::internal("a picture put beside a foreign key"))?,
            None => random_hex::<{ KEY_HEX_LEN / 2 }>()
                .map(|hex| format!("{hex}.{}", format.extension()))
                .map_err(|e| {
                    DomainError::internal(format!("no randomness for a media key: {e}"))
                })?,
        };
        let path = self.path(&key);
        let mut options = PutOptions::default();
        // The local store keeps no attributes (and refuses them); the route sets both headers.
        if self.local_root.is_none() {
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::ContentType, format.content_type().into());
            attributes.insert(Attribute::CacheControl, CACHE_FOREVER.into());
            options.attributes = attributes;
        }
        let payload = PutPayload::from(bytes);
        let written = self
            .bounded(
                "write an object",
                self.store.put_opts(&path, payload, options),
            )
            .await?;
        if let Err(err) = written {
            tracing::error!(store = %self.description, %path, error = %err, "could not store media");
            return Err(unavailable("write an object", &err));
        }
        self.sync_local(&key).await?;
        Ok(key)
    }

    async fn get(&self, key: &str) -> Result<Option<StoredMedia>> {
        let Some(read) = self.open(key, None).await? else {
            return Ok(None);
        };
        let content_type = read.content_type;
        Ok(Some(StoredMedia {
            bytes: read.collect().await?,
            content_type,
        }))
    }

    async fn open(&self, key: &str, range: Option<ByteRange>) -> Result<Option<MediaRead>> {
        if !is_valid_key(key) {
            return Ok(None);
        }
        let Some(format) = key
            .rsplit_once('.')
            .and_then(|(_, ext)| ImageFormat::from_extension(ext))
        else {
            return Ok(None);
        };
        let path = self.path(key);
        // A range is resolved against the object's size first: one that covers none of it is
        // the route's 416, not a store error.
        let mut options = GetOptions::default();
        let mut size = None;
        if let Some(asked) = range {
            let head = self
                .bounded("read an object", self.store.head(&path))
                .await?;
            let Some(meta) = self.found(&path, head)? else {
                return Ok(None);
            };
            let Some(part) = asked.resolve(meta.size) else {
                return Ok(Some(MediaRead::unsatisfiable(
                    format.content_type(),
                    meta.size,
                )));
            };
            size = Some(meta.size);
            options.range = Some(GetRange::Bounded(part));
        }
        let got = self
            .bounded("read an object", self.store.get_opts(&path, options))
            .await?;
        let Some(result) = self.found(&path, got)? else {
            return Ok(None);
        };
        let size = size.unwrap_or(result.meta.size);
        let part = result.range.clone();
        let body: Box<dyn MediaBody> = match result.payload {
            GetResultPayload::File(file, _) => Box::new(FileBody {
                file: Some(file),
                at: part.start,
                end: part.end,
            }),
            GetResultPayload::Stream(stream) => Box::new(ObjectBody {
                stream,
                timeout: self.timeout,
            }),
        };
        Ok(Some(MediaRead {
            content_type: format.content_type(),
            size,
            range: Some(part),
            body,
        }))
    }

    async fn delete(&self, keys: Vec<String>) -> Result<()> {
        let mut first_error = None;
        for key in keys {
            if !is_valid_key(&key) {
                tracing::warn!(key, "not deleting a media key of a foreign shape");
                continue;
            }
            let path = self.path(&key);
            match self
                .bounded("delete an object", self.store.delete(&path))
                .await
            {
                Ok(Ok(()) | Err(object_store::Error::NotFound { .. })) => {}
                Ok(Err(err)) => {
                    // Keep going: one stuck object should not leave the others behind.
                    tracing::warn!(store = %self.description, %path, error = %err, "could not delete media");
                    first_error.get_or_insert(unavailable("delete an object", &err));
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn ready(&self) -> bool {
        // Any answer about an object that is never written means the store answers.
        let probe = self.prefix.clone().join("readyz-probe");
        match self.bounded("answer", self.store.head(&probe)).await {
            Ok(Ok(_) | Err(object_store::Error::NotFound { .. })) => true,
            Ok(Err(err)) => {
                tracing::warn!(store = %self.description, error = %err, "media storage is not ready");
                false
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            Self(std::env::temp_dir().join(format!(
                "being-social-object-media-{}-{}",
                std::process::id(),
                random_hex::<8>().unwrap()
            )))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const SECOND: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_local_store_keeps_the_files_where_the_disk_store_did() {
        let dir = TempDir::new();
        let store = ObjectMediaStore::local(dir.0.join("nested"), SECOND).unwrap();
        let key = store
            .put((0..100).collect(), ImageFormat::Jpeg, None)
            .await
            .unwrap();
        assert!(is_valid_key(&key) && key.ends_with(".jpg"), "{key}");
        let file = dir.0.join("nested").join(&key[..2]).join(&key);
        assert_eq!(std::fs::read(&file).unwrap(), (0..100).collect::<Vec<u8>>());
        // A file the former disk store wrote (same layout) is read as well.
        let old = "0123456789abcdef0123456789abcdef.png".to_string();
        let shard = dir.0.join("nested").join(&old[..2]);
        std::fs::create_dir_all(&shard).unwrap();
        std::fs::write(shard.join(&old), [7, 8, 9]).unwrap();
        let got = store.get(&old).await.unwrap().unwrap();
        assert_eq!((got.bytes, got.content_type), (vec![7, 8, 9], "image/png"));

        let read = store
            .open(&key, Some(ByteRange::Inclusive(10, 19)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((read.size, read.range.clone()), (100, Some(10..20)));
        assert_eq!(read.collect().await.unwrap(), (10..20).collect::<Vec<u8>>());
        let read = store
            .open(&key, Some(ByteRange::From(100)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((read.size, read.range.clone()), (100, None));
        let read = store
            .open(&key, Some(ByteRange::Suffix(5)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            read.collect().await.unwrap(),
            (95..100).collect::<Vec<u8>>()
        );

        // A file of several read chunks, whole and in a range across two of them.
        let big: Vec<u8> = (0..600 * 1024).map(|i: u32| (i % 251) as u8).collect();
        let big_key = store
            .put(big.clone(), ImageFormat::Jpeg, None)
            .await
            .unwrap();
        let read = store.open(&big_key, None).await.unwrap().unwrap();
        assert_eq!(read.collect().await.unwrap(), big);
        let (first, last) = (200 * 1024, 500 * 1024);
        let read = store
            .open(&big_key, Some(ByteRange::Inclusive(first, last)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.range.clone(), Some(first..last + 1));
        assert_eq!(
            read.collect().await.unwrap(),
            big[first as usize..=last as usize]
        );
        store.delete(vec![big_key]).await.unwrap();

        assert!(store.ready().await);
        let missing = "00000000000000000000000000000000.jpg".to_string();
        store
            .delete(vec![key.clone(), missing.clone(), "../x".into()])
            .await
            .unwrap();
        assert!(store.get(&key).await.unwrap().is_none());
        assert!(store.open(&missing, None).await.unwrap().is_none());
        for foreign in ["../etc/passwd", "secret.txt", "ab/cd.jpg"] {
            assert!(store.get(foreign).await.unwrap().is_none(), "{foreign}");
        }
    }

    #[tokio::test]
    async fn a_webp_is_put_beside_its_rendition_and_deletions_go_by_key() {
        let dir = TempDir::new();
        let store = ObjectMediaStore::local(dir.0.clone(), SECOND).unwrap();
        let jpg = store.put(vec![1], ImageFormat::Jpeg, None).await.unwrap();
        let webp = store
            .put(vec![2], ImageFormat::WebP, Some(jpg.clone()))
            .await
            .unwrap();
        assert_eq!(webp, format!("{}.webp", &jpg[..32]));
        let got = store.get(&webp).await.unwrap().unwrap();
        assert_eq!((got.bytes, got.content_type), (vec![2], "image/webp"));
        // Never beside a key of another shape.
        for foreign in ["../x.jpg", "abc.jpg", "nothing"] {
            let put = store.put(vec![3], ImageFormat::WebP, Some(foreign.into()));
            assert!(put.await.is_err(), "{foreign}");
        }
        // A missing key and a foreign one are passed over; the others go.
        let missing = "00000000000000000000000000000000.jpg".to_string();
        store
            .delete(vec![webp.clone(), missing.clone(), "../x".into()])
            .await
            .unwrap();
        assert!(store.get(&webp).await.unwrap().is_none());
        assert!(store.get(&missing).await.unwrap().is_none());
        assert_eq!(store.get(&jpg).await.unwrap().unwrap().bytes, vec![1]);
    }

    #[tokio::test]
    async fn foreign_keys_are_none() {
        let dir = TempDir::new();
        let store = ObjectMediaStore::local(dir.0.clone(), SECOND).unwrap();
        // A file that exists but whose name is not a key must stay unreachable.
        std::fs::write(dir.0.join("secret.txt"), b"secret").unwrap();
        let hex = "0123456789abcdef0123456789abcdef";
        for key in [
            "../etc/passwd".to_string(),
            "secret.txt".to_string(),
            "ABC.jpg".to_string(),
            format!("{hex}.gif"),
            format!("../../{hex}.jpg"),
        ] {
            assert!(store.get(&key).await.unwrap().is_none(), "{key}");
        }
    }

    #[test]
    fn credentials_are_never_shown() {
        let config = S3Config {
            bucket: "pictures".into(),
            prefix: "prod".into(),
            endpoint: Some("http://127.0.0.1:1".into()),
            region: "us-east-1".into(),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI".into()),
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("AKIDEXAMPLE") && !shown.contains("wJalrXUtnFEMI"),
            "{shown}"
        );
        let store = ObjectMediaStore::s3(&config, SECOND).unwrap();
        assert_eq!(format!("{store:?}"), "s3://pictures/prod");
        assert_eq!(
            redact("key AKIDEXAMPLE secret wJalrXUtnFEMI", &config),
            "key *** secret ***"
        );
        let half = S3Config {
            secret_access_key: None,
            ..config
        };
        assert!(ObjectMediaStore::s3(&half, SECOND).is_err());
    }

    #[tokio::test]
    async fn an_unreachable_bucket_is_unavailable_in_time() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let config = S3Config {
            bucket: "pictures".into(),
            prefix: String::new(),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
        };
        let store = ObjectMediaStore::s3(&config, Duration::from_millis(500)).unwrap();
        let started = std::time::Instant::now();
        let err = store
            .put(vec![1], ImageFormat::Png, None)
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");
        let key = "0123456789abcdef0123456789abcdef.png";
        assert!(matches!(
            store.open(key, None).await,
            Err(DomainError::Unavailable(_))
        ));
        assert!(!store.ready().await);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

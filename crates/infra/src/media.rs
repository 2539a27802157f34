//! Pictures on the local disk.
//!
//! Keys are `<32 lowercase hex>.<jpg|png|webp>`, 128 random bits chosen here (a picture's WebP
//! rendition takes the name of the rendition it was put beside, with its own extension), so a key can neither
//! be guessed nor name anything outside the store. Files live in a subdirectory named after the
//! key's first two characters (`ab/ab12....jpg`): 256 directories keep each one small.
//!
//! Every filesystem call runs on tokio's blocking pool. Errors name neither paths nor keys in the
//! returned error (it may reach a response); the log lines carry the details.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use being_social_domain::model::{ImageFormat, StoredMedia, sibling_key};
use being_social_domain::ports::MediaStore;
use being_social_domain::{DomainError, Result};
use rand::TryRng;

/// Hex characters of the random part of a key.
const KEY_HEX_LEN: usize = 32;

/// Whether `key` has exactly the shape of a key this store issues: 32 lowercase hex characters,
/// a dot and `jpg`, `png` or `webp`. Anything else cannot be ours, and checking the shape before building
/// a path is what keeps `..`, slashes and other surprises away from the filesystem.
pub fn is_valid_key(key: &str) -> bool {
    let Some((stem, ext)) = key.split_once('.') else {
        return false;
    };
    stem.len() == KEY_HEX_LEN
        && stem
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && ImageFormat::from_extension(ext).is_some()
}

/// [`MediaStore`] over a directory of the local filesystem.
#[derive(Debug, Clone)]
pub struct LocalMediaStore {
    root: Arc<PathBuf>,
}

impl LocalMediaStore {
    /// A store under `dir`, which is created (with its parents) if missing.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn new(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Self {
            root: Arc::new(dir),
        })
    }

    /// The directory the store writes under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// See the free function [`is_valid_key`].
    pub fn is_valid_key(key: &str) -> bool {
        is_valid_key(key)
    }
}

/// The shard directory and file path of a key already checked with [`is_valid_key`].
fn locate(root: &Path, key: &str) -> (PathBuf, PathBuf) {
    let shard = root.join(key.get(..2).unwrap_or_default());
    let file = shard.join(key);
    (shard, file)
}

fn random_hex<const N: usize>() -> io::Result<String> {
    let mut bytes = [0u8; N];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(io::Error::other)?;
    Ok(hex::encode(bytes))
}

/// Makes a rename or a new entry in `dir` durable: on Linux the entry is only on disk once the
/// directory itself is synced.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes the file under a temporary name in the shard, flushes it, then renames it into place as
/// `key`, so that a reader sees either nothing or the whole file, even after a crash.
fn write_new(root: &Path, bytes: &[u8], key: String) -> io::Result<String> {
    let (shard, path) = locate(root, &key);
    if !shard.is_dir() {
        fs::create_dir_all(&shard)?;
        sync_dir(root)?;
    }
    // A leading dot never matches `is_valid_key`, so a leftover temporary file can never be
    // served or mistaken for a picture.
    let tmp = shard.join(format!(".tmp-{}", random_hex::<8>()?));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        if let Err(cleanup) = fs::remove_file(&tmp)
            && cleanup.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %tmp.display(), error = %cleanup, "could not remove a temporary media file");
        }
        return Err(e);
    }
    sync_dir(&shard)?;
    Ok(key)
}

fn unavailable(action: &str, e: &io::Error) -> DomainError {
    // `io::Error`'s text carries the OS error, never the path.
    DomainError::Unavailable(format!("media storage could not {action}: {e}"))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DomainError::internal(format!("media storage task failed: {e}")))?
}

#[async_trait]
impl MediaStore for LocalMediaStore {
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
            None => format!(
                "{}.{}",
                random_hex::<16>().map_err(|e| unavailable("choose a key", &e))?,
                format.extension()
            ),
        };
        let root = Arc::clone(&self.root);
        blocking(move || {
            write_new(&root, &bytes, key).map_err(|e| {
                tracing::error!(root = %root.display(), error = %e, "could not store media");
                unavailable("write a file", &e)
            })
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<StoredMedia>> {
        if !is_valid_key(key) {
            return Ok(None);
        }
        let Some(format) = key
            .rsplit_once('.')
            .and_then(|(_, ext)| ImageFormat::from_extension(ext))
        else {
            return Ok(None);
        };
        let (_, path) = locate(&self.root, key);
        blocking(move || match fs::read(&path) {
            Ok(bytes) => Ok(Some(StoredMedia {
                bytes,
                content_type: format.content_type(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "could not read media");
                Err(unavailable("read a file", &e))
            }
        })
        .await
    }

    async fn delete(&self, keys: Vec<String>) -> Result<()> {
        let root = Arc::clone(&self.root);
        blocking(move || {
            let mut first_error = None;
            for key in keys {
                if !is_valid_key(&key) {
                    tracing::warn!(key, "not deleting a media key of a foreign shape");
                    continue;
                }
                let (_, path) = locate(&root, &key);
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        // Keep going: one stuck file should not leave the others behind.
                        tracing::warn!(path = %path.display(), error = %e, "could not delete media");
                        first_error.get_or_insert(e);
                    }
                }
            }
            match first_error {
                None => Ok(()),
                Some(e) => Err(unavailable("delete a file", &e)),
            }
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!(
                "being-social-media-test-{}-{}",
                std::process::id(),
                random_hex::<8>().unwrap()
            ));
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn key_shape() {
        let hex = "0123456789abcdef0123456789abcdef";
        assert!(is_valid_key(&format!("{hex}.jpg")));
        assert!(is_valid_key(&format!("{hex}.png")));
        assert!(is_valid_key(&format!("{hex}.webp")));
        assert!(LocalMediaStore::is_valid_key(&format!("{hex}.png")));
        for bad in [
            "../etc/passwd".to_string(),
            "ABC.jpg".to_string(),
            format!("{hex}.gif"),
            format!("{hex}.JPG"),
            format!("{}.jpg", hex.to_uppercase()),
            format!("{hex}.jpg.png"),
            format!("{hex}jpg"),
            format!("{hex}0.jpg"),
            format!("/{hex}.jpg"),
            format!("../{}.jpg", &hex[3..]),
            format!("{}é.jpg", &hex[2..]),
            format!(".tmp-{}", &hex[..16]),
            String::new(),
            ".jpg".to_string(),
        ] {
            assert!(!is_valid_key(&bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn put_get_delete_round_trip() {
        let dir = TempDir::new();
        let store = LocalMediaStore::new(dir.0.join("nested")).unwrap();
        assert!(store.root().is_dir());

        let jpg = store
            .put(vec![1, 2, 3], ImageFormat::Jpeg, None)
            .await
            .unwrap();
        let png = store.put(vec![4, 5], ImageFormat::Png, None).await.unwrap();
        assert!(is_valid_key(&jpg) && jpg.ends_with(".jpg"), "{jpg}");
        assert!(is_valid_key(&png) && png.ends_with(".png"), "{png}");
        assert_ne!(jpg[..32], png[..32]);
        assert!(store.root().join(&jpg[..2]).join(&jpg).is_file());

        let got = store.get(&jpg).await.unwrap().unwrap();
        assert_eq!(got.bytes, vec![1, 2, 3]);
        assert_eq!(got.content_type, "image/jpeg");
        let got = store.get(&png).await.unwrap().unwrap();
        assert_eq!(got.bytes, vec![4, 5]);
        assert_eq!(got.content_type, "image/png");

        // No temporary file is left behind.
        let leftovers: Vec<_> = fs::read_dir(store.root().join(&jpg[..2]))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        let missing = "00000000000000000000000000000000.jpg".to_string();
        store
            .delete(vec![jpg.clone(), missing.clone(), "../x".into()])
            .await
            .unwrap();
        assert!(store.get(&jpg).await.unwrap().is_none());
        assert!(store.get(&missing).await.unwrap().is_none());
        assert!(store.get(&png).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_webp_is_put_beside_its_rendition() {
        let dir = TempDir::new();
        let store = LocalMediaStore::new(dir.0.clone()).unwrap();
        let jpg = store.put(vec![1], ImageFormat::Jpeg, None).await.unwrap();
        let webp = store
            .put(vec![2], ImageFormat::WebP, Some(jpg.clone()))
            .await
            .unwrap();
        assert_eq!(webp, format!("{}.webp", &jpg[..32]));
        let got = store.get(&webp).await.unwrap().unwrap();
        assert_eq!((got.bytes, got.content_type), (vec![2], "image/webp"));
        assert_eq!(store.get(&jpg).await.unwrap().unwrap().bytes, vec![1]);
        // Never beside a key of another shape.
        for foreign in ["../x.jpg", "abc.jpg", "nothing"] {
            assert!(
                store
                    .put(vec![3], ImageFormat::WebP, Some(foreign.into()))
                    .await
                    .is_err(),
                "{foreign}"
            );
        }
    }

    #[tokio::test]
    async fn foreign_keys_are_none() {
        let dir = TempDir::new();
        let store = LocalMediaStore::new(dir.0.clone()).unwrap();
        // A file that exists but whose name is not a key must stay unreachable.
        fs::write(dir.0.join("secret.txt"), b"secret").unwrap();
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
}

//! Orphaned pictures: files in the media store that no row names.
//!
//! An upload writes its files before its row, and removes them again if the row fails; a
//! deletion removes the row, then its files. A process that dies between the two steps (or a
//! store that refuses the removal) leaves files that nothing will ever serve. `being-social check
//! --media` finds them and, with `--repair`, removes them.
//!
//! The store is compared with the database a sixteenth of the keys at a time (those starting with
//! one hex digit: the store's shards `x0` to `xf`), so that memory holds one slice of the keys,
//! never all of them; each slice reads the picture columns of `posts`, `post_media` and `users`
//! once. A WebP rendition belongs to the JPEG or PNG of the same name. Files younger than the
//! grace period are left alone: they may be an upload whose row is not committed yet.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use being_social_domain::Result;
use being_social_domain::model::{ImageFormat, sibling_key};
use being_social_domain::ports::MediaStore;

use crate::db::Database;
use crate::object_media::ObjectMediaStore;

/// What a media check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MediaCheck {
    /// Files listed, of every shape.
    pub files: u64,
    /// Files no row names, older than the grace period (removed with `repair`).
    pub orphans: Vec<String>,
    /// Files no row names yet, younger than the grace period: left alone.
    pub recent: u64,
    /// Names that are not keys of the store (temporary files of unfinished writes): left alone.
    pub foreign: u64,
}

/// Compares every file of `store` with the keys the rows of `db` name; removes the orphans older
/// than `grace` if `repair`.
///
/// # Errors
/// `Unavailable` when the store cannot be listed or an orphan cannot be removed (the rest of its
/// slice is removed still), and database errors.
pub async fn check_media(
    db: &Database,
    store: &ObjectMediaStore,
    grace: Duration,
    repair: bool,
) -> Result<MediaCheck> {
    let cutoff = SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut check = MediaCheck::default();
    for first in "0123456789abcdef".chars() {
        let named = db.media_keys_starting_with(&first.to_string()).await?;
        let mut orphans = Vec::new();
        for second in "0123456789abcdef".chars() {
            for (key, written) in store.list_shard(&format!("{first}{second}")).await? {
                check.files += 1;
                let Some(key) = key else {
                    check.foreign += 1;
                    continue;
                };
                if is_named(&key, &named) {
                    continue;
                }
                if written > cutoff {
                    check.recent += 1;
                } else {
                    orphans.push(key);
                }
            }
        }
        if repair && !orphans.is_empty() {
            store.delete(orphans.clone()).await?;
        }
        check.orphans.extend(orphans);
    }
    Ok(check)
}

/// Whether a row names `key`, or the picture `key` is the WebP rendition of.
fn is_named(key: &str, named: &HashSet<String>) -> bool {
    named.contains(key)
        || key.ends_with(".webp")
            && [ImageFormat::Jpeg, ImageFormat::Png]
                .into_iter()
                .filter_map(|format| sibling_key(key, format))
                .any(|original| named.contains(&original))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webp_belongs_to_its_jpeg_or_png() {
        let hex = "0123456789abcdef0123456789abcdef";
        let named: HashSet<String> = [format!("{hex}.jpg")].into();
        assert!(is_named(&format!("{hex}.jpg"), &named));
        assert!(is_named(&format!("{hex}.webp"), &named));
        assert!(!is_named(&format!("{hex}.png"), &named));
        let png: HashSet<String> = [format!("{hex}.png")].into();
        assert!(is_named(&format!("{hex}.webp"), &png));
        assert!(!is_named(&format!("{hex}.webp"), &HashSet::new()));
    }
}

//! What a process remembers of the pulled authors' newest posts (migrations/*_pulled_posts).
//!
//! A feed page merges in the posts of its viewer's pulled followees (db/feed.rs). Read from
//! `posts`, that is an index range per pulled followee and a statement of its own; with the keys
//! of each pulled author's newest posts in memory, the page takes them from here when every one
//! of its pulled followees is remembered as of the page's own statement (their
//! `users.posts_version`) and far enough back. Otherwise, if reading the newest posts of the
//! authors it could not answer for can answer it, it remembers those and asks again; if that
//! does not answer either, it reads the ranges as before.

use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use super::feed::{Key, PulledAuthor};

/// The keys of one pulled author's newest posts, as one statement read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthorPosts {
    /// The author's `users.posts_version` in that statement.
    version: i64,
    /// Newest first.
    keys: Arc<[Key]>,
    /// Whether `keys` are all the author's posts; else they are all of them from the last up.
    all: bool,
}

impl AuthorPosts {
    /// Whether the keys hold every post of the author's from `lowest` up.
    fn covers(&self, lowest: Key) -> bool {
        self.all || self.keys.last().is_some_and(|&oldest| oldest <= lowest)
    }

    /// The keys before `start`, newest first.
    fn before(&self, start: Key) -> &[Key] {
        &self.keys[self.keys.partition_point(|&key| key >= start)..]
    }
}

/// Each process's [`AuthorPosts`] by author, bounded by the keys they hold (24 bytes each), an
/// entry's own cost counted as [`ENTRY_WEIGHT`] keys: at most about 16 MiB. The cache splits
/// its weight among shards (up to 256 of them, by the cores), and refuses an entry heavier than
/// a shard's part: 2,700 keys or so, above `FeedRules::MAX_PULLED_POSTS_KEPT`.
#[derive(Debug)]
pub(crate) struct PulledPosts {
    cache: quick_cache::sync::Cache<i64, AuthorPosts, ByKeys>,
    /// The most keys remembered of one author (`FeedRules::pulled_posts_kept`).
    kept: i64,
}

const ENTRY_WEIGHT: u64 = 8;

#[derive(Debug, Clone, Copy)]
struct ByKeys;

impl quick_cache::Weighter<i64, AuthorPosts> for ByKeys {
    fn weight(&self, _author: &i64, posts: &AuthorPosts) -> u64 {
        ENTRY_WEIGHT + posts.keys.len() as u64
    }
}

/// The most authors one page remembers: what it reads to remember them is at most this many
/// times `kept` keys, whatever the viewer follows. A page with more to remember reads its pulled
/// posts from `posts`, as it would without memory.
const REMEMBERED_PER_PAGE: usize = 100;

/// Why the remembered keys cannot answer for a page's pulled posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unanswered {
    /// These authors are not remembered as of the page's statement: reading them again answers
    /// the page, unless they posted or deleted meanwhile.
    Stale(Vec<i64>),
    /// The page is older than the posts remembered of some author, or has more than
    /// [`REMEMBERED_PER_PAGE`] authors to remember: remembering would not answer it.
    Unanswerable,
}

impl PulledPosts {
    pub(crate) fn new(kept: i64) -> Self {
        Self {
            cache: quick_cache::sync::Cache::with_weighter(10_000, 700_000, ByKeys),
            kept,
        }
    }

    /// The most posts of one author to read when remembering it.
    pub(crate) fn kept(&self) -> i64 {
        self.kept
    }

    /// The keys of the pulled posts of `authors` (those created before their `until`) from
    /// `lowest` up to before `start`, the newest `limit`, when every author is remembered under
    /// the version the page read and back to `lowest`.
    pub(crate) fn keys(
        &self,
        authors: &[PulledAuthor],
        lowest: Key,
        start: Key,
        limit: i64,
    ) -> Result<Vec<Key>, Unanswered> {
        let mut remembered = Vec::with_capacity(authors.len());
        let mut stale = Vec::new();
        for author in authors {
            match self.cache.get(&author.id) {
                // Read again, the newest `kept` posts would not reach further back (unless the
                // author deleted some meanwhile, which the next page sees).
                Some(posts) if !posts.covers(lowest) => return Err(Unanswered::Unanswerable),
                Some(posts) if posts.version == author.posts_version => {
                    remembered.push((posts, author.until));
                }
                _ => stale.push(author.id),
            }
        }
        if stale.len() > REMEMBERED_PER_PAGE {
            return Err(Unanswered::Unanswerable);
        }
        if !stale.is_empty() {
            return Err(Unanswered::Stale(stale));
        }
        let lists = remembered.iter().map(|(posts, until)| {
            // Newest first: the pushed posts (from `until` on), then the page's range.
            let before = posts.before(start.min((*until, i64::MIN)));
            &before[..before.partition_point(|&key| key >= lowest)]
        });
        Ok(newest(lists, limit))
    }

    /// Remembers what [`super::Dialect::pulled_post_keys`] read: `(author, posts_version, key)`, an
    /// author without posts once with no key.
    pub(crate) fn remember(&self, rows: Vec<(i64, i64, Option<Key>)>) {
        let mut by_author: BTreeMap<i64, (i64, Vec<Key>)> = BTreeMap::new();
        for (author, version, key) in rows {
            let (_, keys) = by_author.entry(author).or_insert((version, Vec::new()));
            keys.extend(key);
        }
        for (author, (version, mut keys)) in by_author {
            keys.sort_unstable_by(|a, b| b.cmp(a));
            let all = (keys.len() as i64) < self.kept;
            self.cache.insert(
                author,
                AuthorPosts {
                    version,
                    keys: keys.into(),
                    all,
                },
            );
        }
    }
}

/// The newest `limit` keys of newest-first lists (which do not share keys), newest first.
fn newest<'a>(lists: impl Iterator<Item = &'a [Key]>, limit: i64) -> Vec<Key> {
    let limit = usize::try_from(limit).unwrap_or(0);
    // Each list's next key, by key: the newest on top.
    let mut heads: BinaryHeap<(Key, &'a [Key])> = lists
        .filter_map(|list| Some((*list.first()?, &list[1..])))
        .collect();
    let mut keys = Vec::with_capacity(limit.min(heads.len() * 4));
    while keys.len() < limit {
        let Some((key, rest)) = heads.pop() else {
            break;
        };
        keys.push(key);
        if let Some(&next) = rest.first() {
            heads.push((next, &rest[1..]));
        }
    }
    keys
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::super::schema::Ts;
    use super::*;

    fn key(seconds: i64) -> Key {
        (
            Ts(DateTime::<Utc>::from_timestamp(seconds, 0).unwrap()),
            seconds,
        )
    }

    fn author(id: i64, posts_version: i64) -> PulledAuthor {
        PulledAuthor {
            id,
            until: Ts::latest(),
            newest: Ts::latest(),
            posts_version,
        }
    }

    /// Author 1 posted at 10, 7 and 3; author 2 at 9, 8 and 1 (version 5 each); author 3 never.
    /// Remembered as `Dialect::pulled_post_keys` reads them: the newest `kept` of each.
    fn remembered(kept: usize) -> PulledPosts {
        let memory = PulledPosts::new(kept as i64);
        let mut rows = vec![(3, 5, None)];
        for (author, times) in [(1, [10, 7, 3]), (2, [9, 8, 1])] {
            let newest = times.into_iter().take(kept);
            rows.extend(newest.map(|at| (author, 5, Some(key(at)))));
        }
        memory.remember(rows);
        memory
    }

    #[test]
    fn the_newest_posts_of_all_authors_between_the_bounds_are_merged() {
        let memory = remembered(10);
        let authors = [author(1, 5), author(2, 5), author(3, 5)];
        let keys = memory.keys(&authors, key(3), key(10), 3).unwrap();
        assert_eq!(keys, vec![key(9), key(8), key(7)]);
        let keys = memory.keys(&authors, key(3), key(10), 10).unwrap();
        assert_eq!(keys, vec![key(9), key(8), key(7), key(3)]);
    }

    #[test]
    fn posts_from_until_on_are_pushed_and_left_out() {
        let memory = remembered(10);
        let pushed_again = PulledAuthor {
            until: key(8).0,
            ..author(1, 5)
        };
        let keys = memory.keys(&[pushed_again], key(0), key(11), 5);
        assert_eq!(keys, Ok(vec![key(7), key(3)]));
    }

    #[test]
    fn another_version_either_way_or_an_unknown_author_is_stale() {
        let memory = remembered(10);
        let authors = [author(1, 6), author(2, 4), author(3, 5), author(4, 0)];
        assert_eq!(
            memory.keys(&authors, key(0), key(11), 3),
            Err(Unanswered::Stale(vec![1, 2, 4]))
        );
    }

    #[test]
    fn more_authors_to_remember_than_a_page_may_is_unanswerable() {
        let memory = remembered(10);
        let authors: Vec<PulledAuthor> = (100..=200).map(|id| author(id, 0)).collect();
        assert_eq!(authors.len(), REMEMBERED_PER_PAGE + 1);
        let answer = memory.keys(&authors, key(0), key(11), 3);
        assert_eq!(answer, Err(Unanswered::Unanswerable));
        let answer = memory.keys(&authors[1..], key(0), key(11), 3);
        assert!(
            matches!(answer, Err(Unanswered::Stale(stale)) if stale.len() == REMEMBERED_PER_PAGE)
        );
    }

    #[test]
    fn a_page_older_than_what_is_kept_is_not_answered() {
        // Two posts kept of three: author 1 from 7 up, author 2 from 8 up.
        let memory = remembered(2);
        let authors = [author(1, 5), author(2, 5), author(3, 5)];
        assert_eq!(
            memory.keys(&authors, key(8), key(11), 3),
            Ok(vec![key(10), key(9), key(8)])
        );
        assert_eq!(
            memory.keys(&authors, key(7), key(11), 3),
            Err(Unanswered::Unanswerable)
        );
        // Stale and too shallow: remembering them again would not answer either.
        let stale = [author(1, 6), author(2, 6)];
        let answer = memory.keys(&stale, key(7), key(11), 3);
        assert_eq!(answer, Err(Unanswered::Unanswerable));
        // All of an author's posts answer however deep: author 3 never posted.
        assert_eq!(memory.keys(&[author(3, 5)], key(0), key(11), 3), Ok(vec![]));
    }
}

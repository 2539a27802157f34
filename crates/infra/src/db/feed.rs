//! The home feed at any graph size (see migrations/*_feed_bounds for the tables and
//! docs/architecture.md, "The feed", for the design).
//!
//! A viewer's feed is the viewer's own posts and those of everyone the viewer follows. It is read
//! from three sources, merged by the page's keyset `(created_at, post_id)`:
//! - the materialised `feed_entries`, complete from the viewer's *horizon* up: every post of a
//!   *pushed* author, copied when it was made ([`FeedRows::deliver`], in the post's transaction
//!   or by the outbox worker) or when the follow was ([`Dialect::backfill`], at most
//!   [`FeedRules::follow_backfill`] posts), and trimmed to at most [`FeedRules::max_entries`];
//! - the posts of the viewer's *pulled* followees (more than [`FeedRules::push_limit`]
//!   followers), never copied, read from `posts_author_recent` for the same range;
//! - below the horizon, the posts of everyone the viewer follows and the viewer's own, read from
//!   `posts_author_recent` too: the deep end of a feed costs more, and its top costs no more
//!   than it did.
//!
//! Every write is bounded whatever the graph: a post writes at most
//! [`FeedRules::inline_fanout`] entries in its transaction (its fan-out to more followers goes
//! through `feed_outbox`, [`Database::deliver_outbox`]), a follow at most `follow_backfill`, an
//! unfollow removes at most `max_entries`, a trim at most `max_entries`.
//!
//! # Locks
//! After the user rows of the transaction (db/mod.rs): the new entries, then the viewers'
//! `feed_state` rows in ascending id, then a trim's deletions; an unfollow (and an account's
//! deletion) takes the viewer's `feed_state` row before deleting its entries; a post's deletion
//! deletes the post's entries after its row ([`FeedRows::withdraw`]). The outbox worker
//! takes no user row: its post's row `FOR KEY SHARE` (a deletion waits for the chunk, or the
//! chunk finds the post gone), then the chunk's `follows` rows `FOR KEY SHARE` (an unfollow
//! waits for the chunk to commit, then removes what it wrote).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use being_social_domain::Result;
use being_social_domain::model::{Post, UserId};
use being_social_domain::pagination::{Cursor, Page, PageRequest};
use being_social_domain::ports::FeedRepository;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::models::{AuthorRow, PostRow};
use super::page::{PostWithLike, post_cursor};
use super::pulled_posts::{PulledPosts, Unanswered};
use super::schema::{
    Ts, feed_entries, feed_outbox, feed_state, follows, likes, posts, pulled_epoch, users,
};
use super::{Database, DbResult, Dialect, IDS_PER_STATEMENT, newest_first_start};

/// A position in a newest-first feed: `(created_at, post_id)`.
pub(crate) type Key = (Ts, i64);

/// How far the feed is materialised. Each bound is a setting (docs/configuration.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedRules {
    /// Authors with more followers than this are pulled: their posts are merged into their
    /// followers' feeds at read time instead of copied into them (T).
    pub push_limit: i64,
    /// Most entries one viewer's materialised feed holds (K). A feed that would pass it is
    /// trimmed to seven eighths of it, oldest first.
    pub max_entries: i64,
    /// Most posts a follow copies into the follower's feed: the leader's newest (B).
    pub follow_backfill: i64,
    /// Most followers a post is copied to in its own transaction; a post of an author with more
    /// (but at most `push_limit`) reaches them through the outbox, after its commit.
    pub inline_fanout: i64,
    /// Most of a pulled author's newest posts whose keys each process remembers
    /// (db/pulled_posts.rs); a page older than them reads its pulled authors' posts from
    /// `posts`. At most [`Self::MAX_PULLED_POSTS_KEPT`].
    pub pulled_posts_kept: i64,
}

impl Default for FeedRules {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl FeedRules {
    /// The defaults (docs/architecture.md, "The feed", says why).
    pub const DEFAULT: Self = Self {
        push_limit: 10_000,
        max_entries: 20_000,
        follow_backfill: 100,
        inline_fanout: 100,
        pulled_posts_kept: 200,
    };

    /// The most `pulled_posts_kept` may be: an author's keys must fit in one shard of the
    /// memory (db/pulled_posts.rs).
    pub const MAX_PULLED_POSTS_KEPT: i64 = 1_000;

    /// The entries a trim keeps.
    pub(crate) fn trimmed_size(&self) -> i64 {
        (self.max_entries / 8 * 7).max(1)
    }

    /// Whether a post made at `at` by an author whose `pulled_until` is `until` is pushed.
    pub(crate) fn is_pushed(until: Option<Ts>, at: Ts) -> bool {
        until.is_none_or(|until| at >= until)
    }

    /// Whether an author with `followers` and this `pulled_until` crosses the push limit with
    /// their next post.
    pub(crate) fn crossing(&self, followers: i64, until: Option<Ts>) -> Crossing {
        let pulled_now = until == Some(Ts::latest());
        if followers > self.push_limit && !pulled_now {
            Crossing::Pull
        } else if followers <= self.push_limit && pulled_now {
            Crossing::Push
        } else {
            Crossing::Stay
        }
    }
}

/// A change of an author's `pulled_until`, made in a post's transaction under the author's row
/// lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crossing {
    Stay,
    /// Above the limit: every post, past ones included, is merged at read time from now on
    /// (`pulled_until` 9999-12-31; the copies of older posts are deduplicated by the page).
    Pull,
    /// At or below it again: posts newer than every post the author has, this one included,
    /// are pushed (`pulled_until` just after the newest). Not the post's own time: a post made
    /// meanwhile with a later clock reading, and not copied because the author was pulled,
    /// must stay pulled.
    Push,
}

impl Crossing {
    /// The author's new `pulled_until`, given the newest `created_at` of their posts.
    pub(crate) fn pulled_until(self, until: Option<Ts>, newest: Ts) -> Option<Ts> {
        match self {
            Self::Stay => until,
            Self::Pull => Some(Ts::latest()),
            Self::Push => Some(Ts(newest.0 + chrono::Duration::microseconds(1))),
        }
    }
}

/// A pending fan-out: a row of `feed_outbox`.
#[derive(Debug, Clone, Copy, Queryable)]
pub(crate) struct OutboxRow {
    pub post_id: i64,
    pub author_id: i64,
    pub created_at: Ts,
    pub next_at: Option<Ts>,
    pub next_follower: Option<i64>,
    pub failures: i32,
}

/// A post as the feed stores it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub post_id: i64,
    pub author_id: i64,
    pub created_at: Ts,
}

/// What a backfill did to one viewer's feed: the entries it added, and, when a leader had more
/// pushed posts than it copied, the oldest copied (the feed is complete only from there).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Backfilled {
    pub copied: i64,
    pub cut: Option<Key>,
}

/// Sums the backfill of each edge per viewer (the deepest cut wins: the highest key).
pub(crate) fn per_viewer(
    edges: impl IntoIterator<Item = (i64, Backfilled)>,
) -> BTreeMap<i64, Backfilled> {
    let mut viewers: BTreeMap<i64, Backfilled> = BTreeMap::new();
    for (viewer, done) in edges {
        let sum = viewers.entry(viewer).or_default();
        sum.copied += done.copied;
        sum.cut = sum.cut.max(done.cut);
    }
    viewers
}

/// The feed's steps inside a caller's transaction, written once for both backends.
pub(crate) trait FeedRows: Send {
    /// Copies a new post into feeds, in its transaction, under its author's row lock (which the
    /// caller holds, and which every follow and unfollow of the author also takes: the
    /// followers read here are exactly those of this instant). Decides push or pull from the
    /// author's `followers` and `pulled_until` and records a crossing of the push limit; then
    /// delivers to the author's own feed, and if the post is pushed, to the followers' (here up
    /// to `inline_fanout` of them, else through an outbox row).
    async fn publish(
        &mut self,
        entry: Entry,
        followers: i64,
        until: Option<Ts>,
        rules: &FeedRules,
    ) -> QueryResult<()>;

    /// Copies `entry` into the feeds of `viewers` (ascending, no repeats) that lack it, raises
    /// their bounds and trims those past the maximum.
    async fn deliver(
        &mut self,
        entry: Entry,
        viewers: &[i64],
        rules: &FeedRules,
    ) -> QueryResult<()>;

    /// Raises the bounds of the feeds of `added` (viewer ascending, entries added), moves the
    /// horizon of those whose backfill was cut, and trims those past the maximum.
    async fn settle(
        &mut self,
        added: &BTreeMap<i64, Backfilled>,
        rules: &FeedRules,
    ) -> QueryResult<()>;

    /// Removes `leader`'s posts from `follower`'s feed.
    async fn forget(&mut self, follower: i64, leader: i64) -> QueryResult<()>;

    /// Removes deleted `posts` from every feed (through `feed_entries_post`: one row per feed
    /// holding one). PostgreSQL has no foreign key from the entries to the posts to do it
    /// (migrations/*_feed_entries_without_post_key), and its pages rely on there being none
    /// (docs/architecture.md, "The feed"). Call it after the posts' rows are deleted (or locked
    /// `FOR UPDATE`) in the same transaction: an outbox chunk holds its post `FOR KEY SHARE`
    /// until it commits, so that the deletion first waits for the chunk and then removes what it
    /// wrote; and after their author's row lock, which a follow's backfill of the author's posts
    /// holds too. (On SQLite the foreign key has removed them already, and this finds none.)
    async fn withdraw(&mut self, posts: &[i64]) -> QueryResult<()>;

    /// A page of `viewer`'s feed: the posts before `start`, newest first, at most `limit`; with
    /// the viewer's pulled followees as `known` remembers them (if they still hold), and as read
    /// for this page when they did not (to remember); and their posts as `pulled_posts` holds them
    /// (if it holds them as of this page), which remembers those it could not answer for.
    async fn page(
        &mut self,
        viewer: i64,
        start: Key,
        limit: i64,
        known: Option<&PulledFollowees>,
        pulled_posts: &PulledPosts,
    ) -> QueryResult<PageRead>;
}

/// A page of a feed as [`FeedRows::page`] reads it.
pub(crate) struct PageRead {
    /// The page's keys, newest first: the next page starts after them.
    keys: Vec<Key>,
    /// The rows of those keys, in the same order. A post deleted between the statement that
    /// read its key and the one that read its row has none: it is left out, the walk goes on.
    rows: Vec<PostWithLike>,
    /// The viewer's pulled followees as read for this page, to remember.
    fresh: Option<PulledFollowees>,
}

macro_rules! feed_rows {
    ($conn:ty) => {
        impl FeedRows for $conn {
            async fn publish(
                &mut self,
                entry: Entry,
                followers: i64,
                until: Option<Ts>,
                rules: &FeedRules,
            ) -> QueryResult<()> {
                let author = entry.author_id;
                let crossing = rules.crossing(followers, until);
                let newest = if crossing == Crossing::Push {
                    posts::table
                        .filter(posts::author_id.eq(author))
                        .order(posts::created_at.desc())
                        .select(posts::created_at)
                        .first::<Ts>(self)
                        .await?
                } else {
                    entry.created_at
                };
                let pulled_until = crossing.pulled_until(until, newest);
                if pulled_until != until {
                    diesel::update(users::table.find(author))
                        .set(users::pulled_until.eq(pulled_until))
                        .execute(self)
                        .await?;
                }
                if until.is_none() && pulled_until.is_some() {
                    // A new pulled followee for every follower: what processes remember of
                    // their viewers' pulled followees is stale ([`PulledFollowees`]).
                    diesel::update(pulled_epoch::table)
                        .set(pulled_epoch::epoch.eq(pulled_epoch::epoch + 1))
                        .execute(self)
                        .await?;
                }
                // One delivery, in ascending viewer id (the lock order above).
                let mut viewers = vec![author];
                if FeedRules::is_pushed(pulled_until, entry.created_at) {
                    if followers <= rules.inline_fanout {
                        let followers: Vec<i64> = follows::table
                            .filter(follows::leader_id.eq(author))
                            .select(follows::follower_id)
                            .load(self)
                            .await?;
                        viewers.extend(followers);
                    } else {
                        diesel::insert_into(feed_outbox::table)
                            .values((
                                feed_outbox::post_id.eq(entry.post_id),
                                feed_outbox::author_id.eq(author),
                                feed_outbox::created_at.eq(entry.created_at),
                            ))
                            .execute(self)
                            .await?;
                    }
                }
                viewers.sort_unstable();
                self.deliver(entry, &viewers, rules).await
            }

            async fn deliver(
                &mut self,
                entry: Entry,
                viewers: &[i64],
                rules: &FeedRules,
            ) -> QueryResult<()> {
                let inserted = self.insert_entries(entry, viewers).await?;
                let added = inserted.into_iter().map(|v| {
                    (
                        v,
                        Backfilled {
                            copied: 1,
                            cut: None,
                        },
                    )
                });
                self.settle(&per_viewer(added), rules).await
            }

            async fn settle(
                &mut self,
                added: &BTreeMap<i64, Backfilled>,
                rules: &FeedRules,
            ) -> QueryResult<()> {
                let raises: Vec<(i64, i64)> = added
                    .iter()
                    .map(|(&viewer, done)| (viewer, done.copied))
                    .collect();
                let raised = self.raise_bounds(&raises).await?;
                for (&viewer, done) in added {
                    if let Some(cut) = done.cut {
                        self.raise_horizon(viewer, cut).await?;
                    }
                }
                for (viewer, bound) in raised {
                    if bound > rules.max_entries {
                        self.trim(viewer, rules.trimmed_size()).await?;
                    }
                }
                Ok(())
            }

            async fn forget(&mut self, follower: i64, leader: i64) -> QueryResult<()> {
                // The state row first (see the lock order above).
                let state = self.lock_feed_state(follower).await?;
                let removed = diesel::delete(
                    feed_entries::table
                        .filter(feed_entries::viewer_id.eq(follower))
                        .filter(feed_entries::author_id.eq(leader)),
                )
                .execute(self)
                .await?;
                if state && removed > 0 {
                    diesel::update(feed_state::table.find(follower))
                        .set(
                            feed_state::entries_at_most
                                .eq(feed_state::entries_at_most - removed as i64),
                        )
                        .execute(self)
                        .await?;
                }
                Ok(())
            }

            async fn withdraw(&mut self, posts: &[i64]) -> QueryResult<()> {
                // The bounds stay: `entries_at_most` is an upper bound (see `feed_state`).
                for chunk in posts.chunks(IDS_PER_STATEMENT) {
                    diesel::delete(feed_entries::table.filter(feed_entries::post_id.eq_any(chunk)))
                        .execute(self)
                        .await?;
                }
                Ok(())
            }

            async fn page(
                &mut self,
                viewer: i64,
                start: Key,
                limit: i64,
                known: Option<&PulledFollowees>,
                pulled_posts: &PulledPosts,
            ) -> QueryResult<PageRead> {
                // The newest entries first, the bounds after them (or in the same statement):
                // the horizon only rises, so entries read before it was are complete from it up
                // (a trim committed in between must not open a gap). Entries below the horizon
                // are dropped below, and the posts there read from their authors.
                let (mut rows, bounds) = self.materialised(viewer, start, limit, known).await?;
                let Bounds {
                    horizon,
                    pulled,
                    dated,
                } = match bounds {
                    Some(bounds) => bounds,
                    None => Bounds {
                        horizon: self.horizon(viewer).await?,
                        pulled: None,
                        dated: None,
                    },
                };
                let mut fresh = None;
                let floor = horizon.unwrap_or((Ts::earliest(), i64::MIN));
                let mut keys: Vec<Key> = rows
                    .iter()
                    .map(|(post, _, _)| (post.created_at, post.id))
                    .filter(|key| *key >= floor)
                    .collect();
                if start > floor && pulled.as_ref().is_none_or(|authors| !authors.is_empty()) {
                    let pulled = match pulled {
                        Some(authors) => authors,
                        None => {
                            let authors = self.pulled_followees(viewer).await?;
                            // Dated by numbers read before the list: a change in between
                            // makes them stale at once, never the list too old for them.
                            fresh = dated.map(|(epoch, version)| PulledFollowees {
                                epoch,
                                version,
                                ids: authors.iter().map(|author| author.id).collect(),
                            });
                            authors
                        }
                    };
                    // A pulled post older than a full page of entries cannot be on it: each
                    // pulled author's range stops at the page's last entry, and an author with
                    // nothing to pull from there on costs no index probe.
                    let last = keys.last().copied().filter(|_| keys.len() as i64 == limit);
                    let lowest = last.map_or(floor, |last| last.max(floor));
                    let authors: Vec<PulledAuthor> = pulled
                        .into_iter()
                        .filter(|author| author.pulls_any_from(lowest.0))
                        .collect();
                    if !authors.is_empty() {
                        // From memory if it holds them as of this page, after remembering the
                        // authors it did not; else from their posts.
                        let mut answer = pulled_posts.keys(&authors, lowest, start, limit);
                        if let Err(Unanswered::Stale(stale)) = &answer {
                            let recent = self.pulled_post_keys(stale, pulled_posts.kept()).await?;
                            pulled_posts.remember(recent);
                            answer = pulled_posts.keys(&authors, lowest, start, limit);
                        }
                        let more = match answer {
                            Ok(keys) => keys,
                            Err(_) => {
                                let authors: Vec<(i64, Ts)> = authors
                                    .iter()
                                    .map(|author| (author.id, author.until))
                                    .collect();
                                self.posts_of_authors(&authors, lowest, start, limit)
                                    .await?
                            }
                        };
                        keys = merge_newest_first(keys, more, limit);
                    }
                }
                if let Some(horizon) = horizon.filter(|_| (keys.len() as i64) < limit) {
                    // Below the horizon: everyone followed, and the viewer, from their posts.
                    let mut authors: Vec<i64> = follows::table
                        .filter(follows::follower_id.eq(viewer))
                        .select(follows::leader_id)
                        .load(self)
                        .await?;
                    authors.push(viewer);
                    let authors: Vec<(i64, Ts)> =
                        authors.into_iter().map(|a| (a, Ts::latest())).collect();
                    let rest = limit - keys.len() as i64;
                    let below = (Ts::earliest(), i64::MIN);
                    let older = self
                        .posts_of_authors(&authors, below, start.min(horizon), rest)
                        .await?;
                    keys.extend(older);
                }
                // The posts of the page that the first query did not bring.
                let missing: Vec<i64> = keys
                    .iter()
                    .map(|&(_, id)| id)
                    .filter(|id| !rows.iter().any(|(post, _, _)| post.id == *id))
                    .collect();
                if !missing.is_empty() {
                    let more: Vec<PostWithLike> = posts_with_likes!(viewer)
                        .filter(posts::id.eq_any(&missing))
                        .select(post_with_like_columns!())
                        .load(self)
                        .await?;
                    rows.extend(more);
                }
                rows.retain(|(post, _, _)| keys.contains(&(post.created_at, post.id)));
                rows.sort_unstable_by(|(a, _, _), (b, _, _)| {
                    (b.created_at, b.id).cmp(&(a.created_at, a.id))
                });
                Ok(PageRead { keys, rows, fresh })
            }
        }

        impl FeedSteps for $conn {
            async fn pulled_followees(&mut self, viewer: i64) -> QueryResult<Vec<PulledAuthor>> {
                let rows: Vec<(i64, Option<Ts>, Option<Ts>, i64)> = follows::table
                    .inner_join(users::table.on(users::id.eq(follows::leader_id)))
                    .filter(follows::follower_id.eq(viewer))
                    .filter(users::pulled_until.is_not_null())
                    .select((
                        follows::leader_id,
                        users::pulled_until,
                        users::last_post_at,
                        users::posts_version,
                    ))
                    .load(self)
                    .await?;
                // One who never posted stays in the list (it is remembered): their first post
                // must reach the pages that come after it.
                Ok(rows
                    .into_iter()
                    .filter_map(|(id, until, newest, posts_version)| {
                        Some(PulledAuthor {
                            id,
                            until: until?,
                            newest: newest.unwrap_or(Ts::earliest()),
                            posts_version,
                        })
                    })
                    .collect())
            }

            async fn horizon(&mut self, viewer: i64) -> QueryResult<Option<Key>> {
                let state: Option<(Option<Ts>, Option<i64>)> = feed_state::table
                    .find(viewer)
                    .select((feed_state::horizon_at, feed_state::horizon_id))
                    .first(self)
                    .await
                    .optional()?;
                Ok(state.and_then(|(at, id)| at.zip(id)))
            }

            async fn raise_horizon(&mut self, viewer: i64, to: Key) -> QueryResult<()> {
                // One conditional update: the horizon moves only up.
                let below = feed_state::horizon_at.is_null().or(key_before!(
                    feed_state::horizon_at,
                    feed_state::horizon_id,
                    to
                ));
                diesel::update(feed_state::table.find(viewer).filter(below))
                    .set((
                        feed_state::horizon_at.eq(to.0),
                        feed_state::horizon_id.eq(to.1),
                    ))
                    .execute(self)
                    .await?;
                Ok(())
            }

            async fn trim(&mut self, viewer: i64, keep: i64) -> QueryResult<()> {
                let oldest_kept: Option<Key> = feed_entries::table
                    .filter(feed_entries::viewer_id.eq(viewer))
                    .order((
                        feed_entries::created_at.desc(),
                        feed_entries::post_id.desc(),
                    ))
                    .select((feed_entries::created_at, feed_entries::post_id))
                    .offset(keep - 1)
                    .first(self)
                    .await
                    .optional()?;
                let size = match oldest_kept {
                    Some(kept) => {
                        let removed = diesel::delete(
                            feed_entries::table
                                .filter(feed_entries::viewer_id.eq(viewer))
                                .filter(key_before!(
                                    feed_entries::created_at,
                                    feed_entries::post_id,
                                    kept
                                )),
                        )
                        .execute(self)
                        .await?;
                        if removed > 0 {
                            self.raise_horizon(viewer, kept).await?;
                        }
                        keep
                    }
                    None => {
                        feed_entries::table
                            .filter(feed_entries::viewer_id.eq(viewer))
                            .count()
                            .get_result(self)
                            .await?
                    }
                };
                diesel::update(feed_state::table.find(viewer))
                    .set(feed_state::entries_at_most.eq(size))
                    .execute(self)
                    .await?;
                Ok(())
            }
        }
    };
}

/// What a page needs besides its entries, read with them where one statement can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Where the viewer's feed stops being complete (`None`: nowhere).
    pub horizon: Option<Key>,
    /// The pulled authors the viewer follows (`None`: not read yet).
    pub pulled: Option<Vec<PulledAuthor>>,
    /// The viewer's [`PulledFollowees`] numbers `(epoch, version)` as of the same statement
    /// (`None`: not read).
    pub dated: Option<(i64, i64)>,
}

/// What a process remembers of a viewer's pulled followees, and the two numbers that tell
/// whether it still holds (migrations/*_pulled_followees): `pulled_epoch.epoch` and the viewer's
/// `users.follows_version` when the list was read, or before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PulledFollowees {
    pub epoch: i64,
    pub version: i64,
    pub ids: Arc<[i64]>,
}

/// Each process's [`PulledFollowees`] by viewer, bounded by the ids they hold (8 bytes each), an
/// entry's own cost (about 128 bytes) counted as [`ENTRY_WEIGHT`] ids: at most about 16 MiB.
pub(crate) type PulledCache = quick_cache::sync::Cache<i64, PulledFollowees, ByIds>;

const ENTRY_WEIGHT: u64 = 16;

pub(crate) fn pulled_cache() -> PulledCache {
    PulledCache::with_weighter(100_000, 2_000_000, ByIds)
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ByIds;

impl quick_cache::Weighter<i64, PulledFollowees> for ByIds {
    fn weight(&self, _viewer: &i64, known: &PulledFollowees) -> u64 {
        ENTRY_WEIGHT + known.ids.len() as u64
    }
}

/// A pulled author a viewer follows: their posts created before `until` are merged into the
/// viewer's pages at read time, none of their posts is newer than `newest`, and `posts_version`
/// is their `users.posts_version` (db/pulled_posts.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PulledAuthor {
    pub id: i64,
    pub until: Ts,
    pub newest: Ts,
    pub posts_version: i64,
}

impl PulledAuthor {
    /// Whether a post of theirs from `from` on can be pulled: one newer than their last post,
    /// or older than `until`, cannot.
    fn pulls_any_from(&self, from: Ts) -> bool {
        self.newest >= from && self.until > from
    }
}

/// The steps [`FeedRows`] is made of.
trait FeedSteps: Send {
    /// The pulled authors `viewer` follows.
    async fn pulled_followees(&mut self, viewer: i64) -> QueryResult<Vec<PulledAuthor>>;
    /// Where `viewer`'s feed stops being complete (`None`: nowhere).
    async fn horizon(&mut self, viewer: i64) -> QueryResult<Option<Key>>;
    /// Moves `viewer`'s horizon up to `to`, never down.
    async fn raise_horizon(&mut self, viewer: i64, to: Key) -> QueryResult<()>;
    /// Keeps the newest `keep` entries of `viewer`'s feed and sets its bound to the truth.
    async fn trim(&mut self, viewer: i64, keep: i64) -> QueryResult<()>;
}

/// The feed's locking reads: the same queries on both backends, with PostgreSQL's lock clauses
/// (SQLite's write transactions hold its one write lock, so there they only read).
pub(crate) trait FeedLocks: Send {
    /// Locks `viewer`'s `feed_state` row (`FOR UPDATE`); whether it exists.
    async fn lock_feed_state(&mut self, viewer: i64) -> QueryResult<bool>;

    /// The first pending fan-out due at `now` that no one else is delivering (`FOR UPDATE SKIP
    /// LOCKED`).
    async fn claim_outbox(&mut self, now: Ts) -> QueryResult<Option<OutboxRow>>;

    /// Keeps the post from being deleted until this transaction ends (`FOR KEY SHARE`); whether
    /// it exists.
    async fn share_lock_post(&mut self, id: i64) -> QueryResult<bool>;

    /// A page of `leader`'s followers `(since, follower)` after `start`, newest first, each edge
    /// kept from being deleted until this transaction ends (`FOR KEY SHARE`).
    async fn followers_page(
        &mut self,
        leader: i64,
        start: Key,
        limit: i64,
    ) -> QueryResult<Vec<(Ts, i64)>>;
}

macro_rules! feed_locks {
    ($conn:ty, update: [$($update:tt)*], skip_locked: [$($skip:tt)*], key_share: [$($share:tt)*]) => {
        impl FeedLocks for $conn {
            async fn lock_feed_state(&mut self, viewer: i64) -> QueryResult<bool> {
                let found: Option<i64> = feed_state::table
                    .find(viewer)
                    .select(feed_state::viewer_id)
                    $($update)*
                    .first(self)
                    .await
                    .optional()?;
                Ok(found.is_some())
            }

            async fn claim_outbox(&mut self, now: Ts) -> QueryResult<Option<OutboxRow>> {
                feed_outbox::table
                    .filter(due(now))
                    .order(feed_outbox::post_id)
                    .select((
                        feed_outbox::post_id,
                        feed_outbox::author_id,
                        feed_outbox::created_at,
                        feed_outbox::next_at,
                        feed_outbox::next_follower,
                        feed_outbox::failures,
                    ))
                    $($update)* $($skip)*
                    .first(self)
                    .await
                    .optional()
            }

            async fn share_lock_post(&mut self, id: i64) -> QueryResult<bool> {
                let found: Option<i64> = posts::table
                    .find(id)
                    .select(posts::id)
                    $($share)*
                    .first(self)
                    .await
                    .optional()?;
                Ok(found.is_some())
            }

            async fn followers_page(
                &mut self,
                leader: i64,
                start: Key,
                limit: i64,
            ) -> QueryResult<Vec<(Ts, i64)>> {
                newest_first_page!(
                    follows::table.filter(follows::leader_id.eq(leader)),
                    follows::created_at,
                    follows::follower_id,
                    (start.0, start.1),
                    limit
                )
                .select((follows::created_at, follows::follower_id))
                $($share)*
                .load(self)
                .await
            }
        }
    };
}

feed_locks!(
    diesel_async::AsyncPgConnection,
    update: [.for_update()],
    skip_locked: [.skip_locked()],
    key_share: [.for_key_share()]
);
feed_locks!(super::SqliteConn, update: [], skip_locked: [], key_share: []);

feed_rows!(diesel_async::AsyncPgConnection);
feed_rows!(super::SqliteConn);

/// The newest `limit` of two newest-first lists, a key present in both once.
pub(crate) fn merge_newest_first(mut a: Vec<Key>, b: Vec<Key>, limit: i64) -> Vec<Key> {
    a.extend(b);
    a.sort_unstable_by(|x, y| y.cmp(x));
    a.dedup();
    a.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    a
}

#[async_trait]
impl FeedRepository for Database {
    #[tracing::instrument(skip(self))]
    async fn feed(&self, viewer: UserId, page: PageRequest) -> Result<Page<Post>> {
        let start = newest_first_start(page.after);
        let limit = page.fetch_limit();
        let known = self.pulled_followees.get(&viewer.get());
        let pulled_posts = &self.pulled_posts;
        let PageRead { keys, rows, fresh } = async {
            with_conn!(self, conn => DbResult::Ok(
                conn.page(viewer.get(), start, limit, known.as_ref(), pulled_posts).await?
            ))
        }
        .await?;
        if let Some(fresh) = fresh {
            self.pulled_followees.insert(viewer.get(), fresh);
        }
        let keys: Vec<Cursor> = keys
            .into_iter()
            .map(|(at, id)| Cursor { at: at.0, id })
            .collect();
        Ok(Page::from_keys(
            &keys,
            self.posts_with_pictures(rows).await?,
            &page,
            post_cursor,
        ))
    }
}

/// Followers one outbox transaction copies a post to.
const OUTBOX_CHUNK: i64 = 1_000;

/// The longest a failed fan-out waits before it is tried again.
const OUTBOX_MAX_WAIT: Duration = Duration::from_secs(300);

/// The outbox rows a worker may claim at `now`: never tried, or waited long enough.
#[diesel::dsl::auto_type]
fn due(now: Ts) -> _ {
    feed_outbox::retry_at
        .is_null()
        .or(feed_outbox::retry_at.le(now))
}

/// What one step of the outbox worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStep {
    /// Nothing was waiting (or everything waiting is being delivered by someone else).
    Idle,
    /// A chunk of the fan-out of a post made at `posted_at` was delivered; more may wait.
    Delivered { posted_at: SystemTime },
}

impl Database {
    /// Delivers one chunk of one pending fan-out (at most [`OUTBOX_CHUNK`] followers), in one
    /// transaction that also records how far it got: run it until it answers
    /// [`OutboxStep::Idle`]. Several processes may run it at once (`SKIP LOCKED`).
    ///
    /// # Errors
    /// When the database fails; the chunk is then delivered again by a later call, after a wait
    /// ([`Self::defer_outbox`]) during which the fan-outs behind it go on.
    pub async fn deliver_outbox(&self) -> Result<OutboxStep> {
        // The worker polls an empty outbox most of the time: one read, not a transaction's
        // three round trips. A row that becomes due just after is claimed at the next poll.
        let waiting = async {
            with_conn!(self, conn => DbResult::Ok(
                diesel::select(diesel::dsl::exists(feed_outbox::table.filter(due(Ts::now()))))
                    .get_result::<bool>(conn)
                    .await?
            ))
        }
        .await?;
        if !waiting {
            return Ok(OutboxStep::Idle);
        }
        let rules = self.feed;
        // The row being delivered, to put back if its delivery fails.
        let claimed = std::sync::Mutex::new(None::<OutboxRow>);
        let step: DbResult<OutboxStep> = async {
            transaction!(self, conn => {
                let Some(pending) = conn.claim_outbox(Ts::now()).await? else {
                    return Ok(OutboxStep::Idle);
                };
                if let Ok(mut claimed) = claimed.lock() {
                    *claimed = Some(pending);
                }
                let OutboxRow { post_id, author_id, created_at, next_at, next_follower, .. } = pending;
                let start = (next_at.unwrap_or(Ts::latest()), next_follower.unwrap_or(i64::MAX));
                let followers = if conn.share_lock_post(post_id).await? {
                    conn.followers_page(author_id, start, OUTBOX_CHUNK).await?
                } else {
                    Vec::new()
                };
                let mut viewers: Vec<i64> = followers.iter().map(|&(_, f)| f).collect();
                viewers.sort_unstable();
                let entry = Entry { post_id, author_id, created_at };
                conn.deliver(entry, &viewers, &rules).await?;
                match followers.last() {
                    Some(&(at, follower)) if followers.len() as i64 == OUTBOX_CHUNK => {
                        diesel::update(feed_outbox::table.find(post_id))
                            .set((feed_outbox::next_at.eq(at), feed_outbox::next_follower.eq(follower)))
                            .execute(conn)
                            .await?;
                    }
                    _ => {
                        diesel::delete(feed_outbox::table.find(post_id)).execute(conn).await?;
                    }
                }
                Ok(OutboxStep::Delivered { posted_at: created_at.0.into() })
            })
        }
        .await;
        let failed = match step {
            Ok(step) => return Ok(step),
            Err(err) => err,
        };
        let claimed = claimed.lock().ok().and_then(|claimed| *claimed);
        if let Some(row) = claimed
            && let Err(err) = self.defer_outbox(row).await
        {
            tracing::warn!(post = row.post_id, error = %err, "cannot defer a failed fan-out");
        }
        Err(failed.into())
    }

    /// Puts back a fan-out whose delivery failed: no worker claims it again before a wait that
    /// doubles with each failure, from 1 s to [`OUTBOX_MAX_WAIT`], so that one that always fails
    /// does not hold up the ones behind it (the worker takes the lowest post id that is due).
    async fn defer_outbox(&self, row: OutboxRow) -> DbResult<()> {
        let wait = OUTBOX_MAX_WAIT.min(Duration::from_secs(1 << row.failures.clamp(0, 16)));
        let failures = row.failures.saturating_add(1);
        tracing::warn!(post = row.post_id, failures, retry_in = ?wait, "a fan-out failed");
        let retry_at = Ts(Ts::now().0 + chrono::TimeDelta::from_std(wait).unwrap_or_default());
        with_conn!(self, conn => {
            diesel::update(feed_outbox::table.find(row.post_id))
                .set((feed_outbox::failures.eq(failures), feed_outbox::retry_at.eq(retry_at)))
                .execute(conn)
                .await?;
            DbResult::Ok(())
        })
    }

    /// Fan-outs waiting in the outbox (for metrics and tests).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn outbox_len(&self) -> Result<i64> {
        let n = async {
            with_conn!(self, conn => DbResult::Ok(feed_outbox::table.count().get_result::<i64>(conn).await?))
        }
        .await?;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn at(seconds: i64) -> Ts {
        Ts(DateTime::<Utc>::from_timestamp(seconds, 0).unwrap())
    }

    #[test]
    fn an_author_is_pulled_above_the_limit_and_pushed_again_after_their_newest_post() {
        let rules = FeedRules {
            push_limit: 10,
            ..FeedRules::default()
        };
        // Never pulled, at or under the limit: nothing changes.
        assert_eq!(rules.crossing(10, None), Crossing::Stay);
        // Over it: every post, past and future, is pulled.
        assert_eq!(rules.crossing(11, None), Crossing::Pull);
        let pulled = Crossing::Pull.pulled_until(None, at(2));
        assert_eq!(pulled, Some(Ts::latest()));
        assert!(!FeedRules::is_pushed(pulled, at(2)));
        assert_eq!(rules.crossing(11, pulled), Crossing::Stay);
        // Back at the limit: pushed after the newest post (made at 5 by a faster clock than
        // this post's 3), which stays pulled with every older one.
        assert_eq!(rules.crossing(10, pulled), Crossing::Push);
        let until = Crossing::Push.pulled_until(pulled, at(5));
        assert!(!FeedRules::is_pushed(until, at(3)));
        assert!(!FeedRules::is_pushed(until, at(5)));
        assert!(FeedRules::is_pushed(until, at(6)));
        // Staying pushed keeps the boundary; crossing again pulls everything again.
        assert_eq!(rules.crossing(5, until), Crossing::Stay);
        assert_eq!(rules.crossing(11, until), Crossing::Pull);
    }

    #[test]
    fn a_trim_keeps_seven_eighths_and_at_least_one() {
        let trimmed = |max_entries| {
            FeedRules {
                max_entries,
                ..FeedRules::default()
            }
            .trimmed_size()
        };
        assert_eq!(trimmed(20_000), 17_500);
        assert_eq!(trimmed(8), 7);
        assert_eq!(trimmed(1), 1);
    }

    #[test]
    fn merging_keeps_the_newest_once() {
        let a = vec![(at(9), 9), (at(5), 5), (at(1), 1)];
        let b = vec![(at(9), 9), (at(7), 7), (at(5), 4)];
        assert_eq!(
            merge_newest_first(a, b, 4),
            vec![(at(9), 9), (at(7), 7), (at(5), 5), (at(5), 4)]
        );
    }

    #[test]
    fn backfills_sum_per_viewer_and_keep_the_highest_cut() {
        let done = |copied, cut: Option<i64>| Backfilled {
            copied,
            cut: cut.map(|s| (at(s), s)),
        };
        let summed = per_viewer([
            (2, done(3, Some(4))),
            (1, done(1, None)),
            (2, done(0, Some(8))),
        ]);
        assert_eq!(summed.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(summed[&2].copied, 3);
        assert_eq!(summed[&2].cut, Some((at(8), 8)));
        assert_eq!(summed[&1].cut, None);
    }
}

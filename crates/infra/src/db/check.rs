//! Counter verification: every stored counter against a count of the rows it counts, and every
//! materialised feed against the follows and posts it is made of, under the rules of db/feed.rs. Plain SQL that both backends
//! accept, run by `being-social check` and by the tests after every storm.

use std::collections::HashSet;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::schema::{post_media, posts, users};

use super::feed::FeedRules;
use super::{Backend, Database, DbResult};

/// One counter that differs from its rows.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct Drift {
    /// `table.column`, e.g. `posts.likes_count`.
    #[diesel(sql_type = Text)]
    pub counter: String,
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub stored: i64,
    #[diesel(sql_type = BigInt)]
    pub actual: i64,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of id {}: stored {}, rows {}",
            self.counter, self.id, self.stored, self.actual
        )
    }
}

/// For each counter: its table, column, and the count of its rows for the row `t`.
const COUNTERS: [(&str, &str, &str); 6] = [
    (
        "users",
        "post_count",
        "SELECT COUNT(*) FROM posts x WHERE x.author_id = t.id",
    ),
    (
        "users",
        "follower_count",
        "SELECT COUNT(*) FROM follows x WHERE x.leader_id = t.id",
    ),
    (
        "users",
        "following_count",
        "SELECT COUNT(*) FROM follows x WHERE x.follower_id = t.id",
    ),
    (
        "posts",
        "likes_count",
        "SELECT COUNT(*) FROM likes x WHERE x.post_id = t.id",
    ),
    (
        "posts",
        "comments_count",
        "SELECT COUNT(*) FROM comments x WHERE x.post_id = t.id",
    ),
    (
        "comments",
        "reply_count",
        // With the post too, so that the count is a range of the `comments_thread` index
        // (post_id, parent_id, ...) rather than a scan of every comment per comment.
        "SELECT COUNT(*) FROM comments x WHERE x.post_id = t.post_id AND x.parent_id = t.id",
    ),
];

/// The authors whose `last_post_at` is older than one of their posts. It is an upper bound of
/// their posts' times (migrations/*_last_post_at), which feed pages trust to skip a pulled author
/// without reading their posts: a post above it would be missing from every follower's feed.
const LAST_POST_AT_BELOW_A_POST: &str = "EXISTS (SELECT 1 FROM posts x WHERE x.author_id = t.id \
     AND (t.last_post_at IS NULL OR x.created_at > t.last_post_at))";

/// Every entry a feed could hold, `(viewer_id, created_at, post_id, author_id)`: each post in its
/// author's feed, and each *pushed* post (db/feed.rs) in the feed of every follower of its author.
const PUSHED_ENTRIES: &str = "
    SELECT p.author_id AS viewer_id, p.created_at, p.id AS post_id, p.author_id FROM posts p
    UNION ALL
    SELECT f.follower_id, p.created_at, p.id, p.author_id
    FROM follows f JOIN posts p ON p.author_id = f.leader_id JOIN users u ON u.id = p.author_id
    WHERE u.pulled_until IS NULL OR p.created_at >= u.pulled_until";

/// The viewers whose feed is wrong under the rules of db/feed.rs: it lacks a pushed post at or
/// above its horizon (one still in the outbox is on its way), holds a post it should not show
/// (or with the wrong time or author, or one deleted: PostgreSQL has no foreign key there), or
/// holds more rows than its bound or the maximum.
fn wrong_feeds(rules: &FeedRules) -> String {
    let max = rules.max_entries;
    format!(
        "SELECT x.viewer_id FROM ({PUSHED_ENTRIES}) AS x \
             LEFT JOIN feed_state s ON s.viewer_id = x.viewer_id \
         WHERE (s.horizon_at IS NULL OR x.created_at > s.horizon_at \
                OR (x.created_at = s.horizon_at AND x.post_id >= s.horizon_id)) \
           AND x.post_id NOT IN (SELECT post_id FROM feed_outbox) \
           AND NOT EXISTS (SELECT 1 FROM feed_entries e WHERE e.viewer_id = x.viewer_id \
                           AND e.created_at = x.created_at AND e.post_id = x.post_id) \
         UNION \
         SELECT e.viewer_id FROM feed_entries e LEFT JOIN posts p ON p.id = e.post_id \
         WHERE p.id IS NULL OR e.author_id <> p.author_id OR e.created_at <> p.created_at \
            OR (e.viewer_id <> p.author_id AND NOT EXISTS (SELECT 1 FROM follows f \
                WHERE f.follower_id = e.viewer_id AND f.leader_id = p.author_id)) \
         UNION \
         SELECT e.viewer_id FROM feed_entries e LEFT JOIN feed_state s ON s.viewer_id = e.viewer_id \
         GROUP BY e.viewer_id, s.entries_at_most \
         HAVING COUNT(*) > COALESCE(s.entries_at_most, 0) OR COUNT(*) > {max}"
    )
}

/// What `being-social check` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Counters and feeds.
    Everything,
    /// Counters only: the feed comparison reads every feed entry twice over (about two minutes
    /// for the benchmark's 50 million).
    CountersOnly,
}

fn drift_query(scope: Scope, rules: &FeedRules) -> String {
    let counters = COUNTERS.iter().map(|(table, column, count)| {
        format!(
            "SELECT '{table}.{column}' AS counter, t.id AS id, t.{column} AS stored, \
             ({count}) AS actual FROM {table} t WHERE t.{column} <> ({count})"
        )
    });
    // Reported as the posts it covers against all of them.
    let last_post_at = format!(
        "SELECT 'users.last_post_at' AS counter, t.id AS id, \
            (SELECT COUNT(*) FROM posts x WHERE x.author_id = t.id \
             AND x.created_at <= t.last_post_at) AS stored, \
            (SELECT COUNT(*) FROM posts x WHERE x.author_id = t.id) AS actual \
         FROM users t WHERE {LAST_POST_AT_BELOW_A_POST}"
    );
    // A wrong feed is reported with its number of entries against its bound.
    let feeds = format!(
        "SELECT 'feed_entries' AS counter, w.viewer_id AS id, \
            (SELECT COUNT(*) FROM feed_entries e WHERE e.viewer_id = w.viewer_id) AS stored, \
            COALESCE((SELECT s.entries_at_most FROM feed_state s \
                      WHERE s.viewer_id = w.viewer_id), 0) AS actual \
         FROM ({}) AS w",
        wrong_feeds(rules)
    );
    let feeds = (scope == Scope::Everything).then_some(feeds);
    counters
        .chain([last_post_at])
        .chain(feeds)
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn repair_statements(scope: Scope, rules: &FeedRules, copying: Copying) -> Vec<String> {
    let counters = COUNTERS.iter().map(|(table, column, count)| {
        format!("UPDATE {table} AS t SET {column} = ({count}) WHERE t.{column} <> ({count})")
    });
    let last_post_at = format!(
        "UPDATE users AS t SET last_post_at = \
            (SELECT MAX(x.created_at) FROM posts x WHERE x.author_id = t.id) \
         WHERE {LAST_POST_AT_BELOW_A_POST}"
    );
    // A wrong feed is rebuilt whole. The temporary table keeps the list of viewers fixed while
    // their entries are deleted and written again.
    let feeds = (scope == Scope::Everything).then(|| {
        let mut statements = vec![format!(
            "CREATE TEMPORARY TABLE wrong_feeds AS {}",
            wrong_feeds(rules)
        )];
        statements.extend(rebuild_feeds(
            rules,
            "SELECT viewer_id FROM wrong_feeds",
            copying,
        ));
        statements.push("DROP TABLE wrong_feeds".into());
        statements
    });
    // Whatever a process remembers of its viewers' pulled followees, and of the pulled authors'
    // posts, is read again (db/feed.rs, db/pulled_posts.rs): a process older than that memory
    // changes follows and posts without dating them.
    let forget_pulled = "UPDATE pulled_epoch SET epoch = epoch + 1".to_owned();
    let forget_pulled_posts =
        "UPDATE users SET posts_version = posts_version + 1 WHERE pulled_until IS NOT NULL"
            .to_owned();
    counters
        .chain([last_post_at])
        .chain(feeds.into_iter().flatten())
        .chain([forget_pulled, forget_pulled_posts])
        .collect()
}

/// How [`rebuild_feeds`] copies posts into feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Copying {
    /// Nothing else writes (the seed), or nothing else can (SQLite's repair holds the database's
    /// write lock from its first statement).
    Alone,
    /// Servers run meanwhile (PostgreSQL's repair). The statement that copies the posts locks
    /// them `FOR KEY SHARE` and copies only those it finds: a post deleted since they were listed
    /// is left out, and one deleted later waits for the repair's commit and then removes what it
    /// copied (no foreign key does it there: migrations/postgres/*_feed_entries_without_post_key).
    WhileServing,
}

/// Statements that rebuild the feeds of the viewers `viewers` selects (a query of `viewer_id`) as
/// a trim leaves a feed: its newest entries, at most the number a trim keeps, and its horizon at
/// the oldest of them if there were more.
pub(crate) fn rebuild_feeds(rules: &FeedRules, viewers: &str, copying: Copying) -> Vec<String> {
    let keep = rules.trimmed_size();
    // Under `WhileServing`, the copy reads the posts again, locked (see `Copying`).
    let (copied_from, locking) = match copying {
        Copying::Alone => ("rebuilt r", ""),
        Copying::WhileServing => (
            "rebuilt r JOIN posts p ON p.id = r.post_id",
            " FOR KEY SHARE OF p",
        ),
    };
    vec![
        format!(
            "CREATE TEMPORARY TABLE rebuilt AS SELECT x.*, ROW_NUMBER() OVER \
             (PARTITION BY x.viewer_id ORDER BY x.created_at DESC, x.post_id DESC) AS rank \
             FROM ({PUSHED_ENTRIES}) AS x WHERE x.viewer_id IN ({viewers})"
        ),
        format!("DELETE FROM feed_state WHERE viewer_id IN ({viewers})"),
        format!("DELETE FROM feed_entries WHERE viewer_id IN ({viewers})"),
        format!(
            "INSERT INTO feed_entries (viewer_id, created_at, post_id, author_id) \
             SELECT r.viewer_id, r.created_at, r.post_id, r.author_id FROM {copied_from} \
             WHERE r.rank <= {keep} ORDER BY r.viewer_id, r.created_at, r.post_id{locking}"
        ),
        // One grouped pass: the rows kept (a post left out above still counted: the bound stays
        // a bound), and the oldest kept as the horizon if there were more.
        format!(
            "INSERT INTO feed_state (viewer_id, entries_at_most, horizon_at, horizon_id) \
             SELECT viewer_id, SUM(CASE WHEN rank <= {keep} THEN 1 ELSE 0 END), \
                 CASE WHEN MAX(rank) > {keep} THEN MAX(CASE WHEN rank = {keep} THEN created_at END) END, \
                 CASE WHEN MAX(rank) > {keep} THEN MAX(CASE WHEN rank = {keep} THEN post_id END) END \
             FROM rebuilt GROUP BY viewer_id"
        ),
        "DROP TABLE rebuilt".into(),
    ]
}

impl Database {
    /// Every counter that differs from the rows it counts, and every feed that differs from the
    /// follows and posts it is made of; empty when all agree.
    ///
    /// # Errors
    /// When the database cannot be queried.
    pub async fn counter_drift(
        &self,
        scope: Scope,
    ) -> Result<Vec<Drift>, being_social_domain::DomainError> {
        let query = drift_query(scope, &self.feed);
        let drift: Vec<Drift> = async {
            with_conn!(self, conn => DbResult::Ok(diesel::sql_query(&query).load(conn).await?))
        }
        .await?;
        Ok(drift)
    }

    /// Sets every drifted counter to the count of its rows and rebuilds every wrong feed, in one
    /// transaction.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn repair_counters(
        &self,
        scope: Scope,
    ) -> Result<(), being_social_domain::DomainError> {
        let copying = match self.backend {
            Backend::Postgres(_) => Copying::WhileServing,
            Backend::Sqlite(_) => Copying::Alone,
        };
        let statements = repair_statements(scope, &self.feed, copying);
        async {
            transaction!(self, conn => {
                for statement in &statements {
                    diesel::sql_query(statement).execute(conn).await?;
                }
                Ok(())
            })
        }
        .await?;
        Ok(())
    }

    /// Every media key a row names that starts with `prefix`: the pictures of posts (each
    /// rendition of each picture) and avatars. For the media check (`crate::orphans`), a slice
    /// of the keys at a time; without an index on the keys, each call reads those tables whole.
    ///
    /// # Errors
    /// When the database cannot be queried.
    pub async fn media_keys_starting_with(
        &self,
        prefix: &str,
    ) -> Result<HashSet<String>, being_social_domain::DomainError> {
        let like = format!("{prefix}%");
        let keys: Vec<Vec<String>> = async {
            with_conn!(self, conn => {
                // The keys of one column (NULLs never match a LIKE).
                macro_rules! keys {
                    ($table:ident, $column:expr) => {
                        $table::table
                            .filter($column.like(&like))
                            .select($column)
                            .load::<String>(conn)
                            .await?
                    };
                }
                let keys = vec![
                    keys!(posts, posts::image_key),
                    keys!(posts, posts::thumbnail_key),
                    keys!(posts, posts::medium_key.assume_not_null()),
                    keys!(post_media, post_media::image_key),
                    keys!(post_media, post_media::thumbnail_key),
                    keys!(post_media, post_media::medium_key.assume_not_null()),
                    keys!(users, users::avatar_key.assume_not_null()),
                ];
                DbResult::Ok(keys)
            })
        }
        .await?;
        Ok(keys.into_iter().flatten().collect())
    }
}

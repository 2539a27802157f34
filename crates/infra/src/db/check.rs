//! Counter verification: every stored counter against a count of the rows it counts, and every
//! materialised feed against the follows and posts it is made of. Plain SQL that both backends
//! accept, run by `being-social check` and by the tests after every storm.

use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::{Database, DbResult};

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

/// What `feed_entries` must hold: `(viewer_id, created_at, post_id)` for the viewer's own posts
/// and for the posts of everyone the viewer follows.
pub(crate) const EXPECTED_FEEDS: &str = "
    SELECT author_id AS viewer_id, created_at, id AS post_id FROM posts
    UNION ALL
    SELECT f.follower_id, p.created_at, p.id FROM follows f JOIN posts p ON p.author_id = f.leader_id";

/// The viewers whose feed lacks an entry or holds one too many.
fn wrong_feeds() -> String {
    format!(
        "SELECT viewer_id FROM ({EXPECTED_FEEDS} \
             EXCEPT SELECT viewer_id, created_at, post_id FROM feed_entries) AS missing \
         UNION \
         SELECT viewer_id FROM (SELECT viewer_id, created_at, post_id FROM feed_entries \
             EXCEPT SELECT viewer_id, created_at, post_id FROM ({EXPECTED_FEEDS}) AS e) AS extra"
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

fn drift_query(scope: Scope) -> String {
    let counters = COUNTERS.iter().map(|(table, column, count)| {
        format!(
            "SELECT '{table}.{column}' AS counter, t.id AS id, t.{column} AS stored, \
             ({count}) AS actual FROM {table} t WHERE t.{column} <> ({count})"
        )
    });
    // A wrong feed is reported with its number of entries against the number it should have
    // (which may be equal: one missing, one extra).
    let feeds = format!(
        "SELECT 'feed_entries' AS counter, w.viewer_id AS id, \
            (SELECT COUNT(*) FROM feed_entries e WHERE e.viewer_id = w.viewer_id) AS stored, \
            (SELECT COUNT(*) FROM ({EXPECTED_FEEDS}) x WHERE x.viewer_id = w.viewer_id) AS actual \
         FROM ({}) AS w",
        wrong_feeds()
    );
    let feeds = (scope == Scope::Everything).then_some(feeds);
    counters
        .chain(feeds)
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn repair_statements(scope: Scope) -> Vec<String> {
    let counters = COUNTERS.iter().map(|(table, column, count)| {
        format!("UPDATE {table} AS t SET {column} = ({count}) WHERE t.{column} <> ({count})")
    });
    // A wrong feed is rebuilt whole. The temporary table keeps the list of viewers fixed while
    // their entries are deleted and written again.
    let feeds = (scope == Scope::Everything).then(|| {
        [
            format!("CREATE TEMPORARY TABLE wrong_feeds AS {}", wrong_feeds()),
            "DELETE FROM feed_entries WHERE viewer_id IN (SELECT viewer_id FROM wrong_feeds)"
                .into(),
            format!(
                "INSERT INTO feed_entries (viewer_id, created_at, post_id) \
             SELECT viewer_id, created_at, post_id FROM ({EXPECTED_FEEDS}) AS x \
             WHERE x.viewer_id IN (SELECT viewer_id FROM wrong_feeds)"
            ),
            "DROP TABLE wrong_feeds".into(),
        ]
    });
    counters.chain(feeds.into_iter().flatten()).collect()
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
        let query = drift_query(scope);
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
        let statements = repair_statements(scope);
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
}

//! The few steps whose SQL differs between the backends. Everything else is shared DSL.

use diesel::QueryResult;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::SqliteConn;
use super::models::NewLikeRow;
use super::schema::{Ts, follows, likes, posts, users};

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Ids of a comment and every reply beneath it, at any depth. `$1` is the post, `$2` the root.
/// `UNION`, not `UNION ALL`: should a cycle exist (a comment that is its own parent, which replies
/// could create before they were checked), the walk ends instead of running forever.
const COMMENT_THREAD: &str = "
    WITH RECURSIVE thread (id) AS (
        SELECT id FROM comments WHERE post_id = $1 AND id = $2
        UNION
        SELECT c.id FROM comments c JOIN thread t ON c.post_id = $1 AND c.parent_id = t.id
    )
    SELECT id FROM thread";

/// Ids of every comment a user wrote on other people's posts, with every reply beneath them
/// (comments under the user's own posts go away with the posts). `$1` is the user.
const THREADS_OF_AUTHOR: &str = "
    WITH RECURSIVE doomed (id, post_id) AS (
        SELECT c.id, c.post_id FROM comments c JOIN posts p ON p.id = c.post_id
        WHERE c.author_id = $1 AND p.author_id <> $1
        UNION
        SELECT c.id, c.post_id FROM comments c JOIN doomed d
            ON c.post_id = d.post_id AND c.parent_id = d.id
    )
    SELECT id FROM doomed";

/// The feed on PostgreSQL for someone who follows few people: for each author (`$1`, the viewer
/// and the people followed), at most one page of post keys from `posts_author_recent`, then the
/// newest page of those. Reads at most (authors × page size) index entries, however many posts
/// each author has. `$2`/`$3` the cursor (exclusive), `$4` the number of rows to return.
const PG_FEED_PER_AUTHOR: &str = "
    SELECT p.id FROM unnest($1::bigint[]) AS a (author_id)
    CROSS JOIN LATERAL (
        SELECT id, created_at FROM posts
        WHERE posts.author_id = a.author_id AND (posts.created_at, posts.id) < ($2, $3)
        ORDER BY posts.created_at DESC, posts.id DESC
        LIMIT $4
    ) AS p
    ORDER BY p.created_at DESC, p.id DESC
    LIMIT $4";

/// The feed on PostgreSQL for someone who follows many people: walk `posts_recent` backwards from
/// the cursor, keeping the posts of the authors in `$1` (an index-only scan). Reads about
/// (page size × all posts / posts of those authors) entries.
///
/// `author_id + 0` is deliberate: with a plain `author_id = ANY($1)` the planner prefers
/// `posts_author_recent`, reads every post of the thousand authors and sorts them (24 ms a page in
/// the benchmark's data set, against 0.5 ms for this walk).
const PG_FEED_RECENT: &str = "
    SELECT id FROM posts
    WHERE (created_at, id) < ($2, $3) AND author_id + 0 = ANY($1::bigint[])
    ORDER BY created_at DESC, id DESC
    LIMIT $4";

/// Up to this many authors the per-author join reads less than the walk of all recent posts. At
/// F authors the join reads F·L entries and the walk about L·N/F, equal at F = √N: 100 for the
/// 10,000 accounts the benchmark seeds.
const PER_AUTHOR_FEED_MAX_AUTHORS: usize = 100;

fn sqlite_placeholders(sql: &str) -> String {
    // SQLite's numbered parameters (?1, ?2) bind like PostgreSQL's $1, $2, reuse included.
    sql.replace('$', "?")
}

fn ids(rows: Vec<IdRow>) -> Vec<i64> {
    rows.into_iter().map(|r| r.id).collect()
}

/// Backend-specific steps. On PostgreSQL they take row locks; on SQLite the transaction already
/// holds the database's write lock (BEGIN IMMEDIATE), so they only read.
pub(crate) trait Dialect: Send {
    /// Locks user rows whose counters will change (`FOR NO KEY UPDATE`, ascending id) and
    /// returns the ids that exist.
    async fn lock_users(&mut self, ids: &[i64]) -> QueryResult<Vec<i64>>;

    /// Keeps the user row from being deleted until this transaction ends (`FOR KEY SHARE`), taken
    /// before any post or comment lock. Returns whether the user exists.
    async fn share_lock_user(&mut self, id: i64) -> QueryResult<bool>;

    /// Locks what an account deletion changes, all in ascending id: the account itself
    /// `FOR UPDATE` (so no new row can reference it), the others `FOR NO KEY UPDATE`.
    async fn lock_users_for_deletion(&mut self, doomed: i64, others: &[i64]) -> QueryResult<()>;

    /// Locks post rows: `FOR UPDATE` when they are about to be deleted, `FOR NO KEY UPDATE` when
    /// only their counters change. Returns the ids that exist.
    async fn lock_posts(&mut self, ids: &[i64], for_delete: bool) -> QueryResult<Vec<i64>>;

    /// See [`COMMENT_THREAD`].
    async fn comment_thread(&mut self, post: i64, root: i64) -> QueryResult<Vec<i64>>;

    /// See [`THREADS_OF_AUTHOR`].
    async fn threads_of_author(&mut self, user: i64) -> QueryResult<Vec<i64>>;

    /// Inserts the likes that do not exist yet and returns the users whose like was new.
    async fn insert_likes(&mut self, rows: &[NewLikeRow]) -> QueryResult<Vec<i64>>;

    /// Ids of the next `limit` posts of the viewer's feed after `after`, newest first.
    async fn feed_ids(
        &mut self,
        viewer: i64,
        after: (Ts, i64),
        limit: i64,
    ) -> QueryResult<Vec<i64>>;
}

impl Dialect for AsyncPgConnection {
    async fn insert_likes(&mut self, rows: &[NewLikeRow]) -> QueryResult<Vec<i64>> {
        // One multi-row statement: one round trip for the whole batch.
        diesel::insert_into(likes::table)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(likes::user_id)
            .get_results(self)
            .await
    }

    async fn lock_users(&mut self, ids: &[i64]) -> QueryResult<Vec<i64>> {
        users::table
            .filter(users::id.eq_any(ids))
            .order(users::id)
            .select(users::id)
            .for_no_key_update()
            .load(self)
            .await
    }

    async fn share_lock_user(&mut self, id: i64) -> QueryResult<bool> {
        users::table
            .find(id)
            .select(users::id)
            .for_key_share()
            .first::<i64>(self)
            .await
            .optional()
            .map(|found| found.is_some())
    }

    async fn lock_users_for_deletion(&mut self, doomed: i64, others: &[i64]) -> QueryResult<()> {
        let (below, above): (Vec<i64>, Vec<i64>) = others.iter().partition(|id| **id < doomed);
        self.lock_users(&below).await?;
        users::table
            .find(doomed)
            .select(users::id)
            .for_update()
            .load::<i64>(self)
            .await?;
        self.lock_users(&above).await?;
        Ok(())
    }

    async fn lock_posts(&mut self, ids: &[i64], for_delete: bool) -> QueryResult<Vec<i64>> {
        let query = posts::table
            .filter(posts::id.eq_any(ids))
            .order(posts::id)
            .select(posts::id);
        if for_delete {
            query.for_update().load(self).await
        } else {
            query.for_no_key_update().load(self).await
        }
    }

    async fn comment_thread(&mut self, post: i64, root: i64) -> QueryResult<Vec<i64>> {
        diesel::sql_query(COMMENT_THREAD)
            .bind::<BigInt, _>(post)
            .bind::<BigInt, _>(root)
            .load::<IdRow>(self)
            .await
            .map(ids)
    }

    async fn threads_of_author(&mut self, user: i64) -> QueryResult<Vec<i64>> {
        diesel::sql_query(THREADS_OF_AUTHOR)
            .bind::<BigInt, _>(user)
            .load::<IdRow>(self)
            .await
            .map(ids)
    }

    async fn feed_ids(
        &mut self,
        viewer: i64,
        after: (Ts, i64),
        limit: i64,
    ) -> QueryResult<Vec<i64>> {
        let mut authors: Vec<i64> = follows::table
            .filter(follows::follower_id.eq(viewer))
            .select(follows::leader_id)
            .load(self)
            .await?;
        authors.push(viewer);
        let query = if authors.len() <= PER_AUTHOR_FEED_MAX_AUTHORS {
            PG_FEED_PER_AUTHOR
        } else {
            PG_FEED_RECENT
        };
        diesel::sql_query(query)
            .bind::<diesel::sql_types::Array<BigInt>, _>(authors)
            .bind::<super::schema::Instant, _>(after.0)
            .bind::<BigInt, _>(after.1)
            .bind::<BigInt, _>(limit)
            .load::<IdRow>(self)
            .await
            .map(ids)
    }
}

impl Dialect for SqliteConn {
    async fn insert_likes(&mut self, rows: &[NewLikeRow]) -> QueryResult<Vec<i64>> {
        // diesel cannot write a multi-row INSERT ... RETURNING for SQLite; row by row costs no
        // round trips here, and the transaction already holds the write lock.
        let mut inserted = Vec::new();
        for row in rows {
            let added = diesel::insert_into(likes::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(self)
                .await?;
            if added == 1 {
                inserted.push(row.user_id);
            }
        }
        Ok(inserted)
    }

    async fn lock_users(&mut self, ids: &[i64]) -> QueryResult<Vec<i64>> {
        users::table
            .filter(users::id.eq_any(ids))
            .order(users::id)
            .select(users::id)
            .load(self)
            .await
    }

    async fn share_lock_user(&mut self, id: i64) -> QueryResult<bool> {
        users::table
            .find(id)
            .select(users::id)
            .first::<i64>(self)
            .await
            .optional()
            .map(|found| found.is_some())
    }

    async fn lock_users_for_deletion(&mut self, _doomed: i64, _others: &[i64]) -> QueryResult<()> {
        Ok(())
    }

    async fn lock_posts(&mut self, ids: &[i64], _for_delete: bool) -> QueryResult<Vec<i64>> {
        posts::table
            .filter(posts::id.eq_any(ids))
            .order(posts::id)
            .select(posts::id)
            .load(self)
            .await
    }

    async fn comment_thread(&mut self, post: i64, root: i64) -> QueryResult<Vec<i64>> {
        diesel::sql_query(sqlite_placeholders(COMMENT_THREAD))
            .bind::<BigInt, _>(post)
            .bind::<BigInt, _>(root)
            .load::<IdRow>(self)
            .await
            .map(ids)
    }

    async fn threads_of_author(&mut self, user: i64) -> QueryResult<Vec<i64>> {
        diesel::sql_query(sqlite_placeholders(THREADS_OF_AUTHOR))
            .bind::<BigInt, _>(user)
            .load::<IdRow>(self)
            .await
            .map(ids)
    }

    async fn feed_ids(
        &mut self,
        viewer: i64,
        after: (Ts, i64),
        limit: i64,
    ) -> QueryResult<Vec<i64>> {
        // SQLite has no LATERAL: the posts of the followed authors are read through
        // posts_author_recent and sorted. PostgreSQL is the store for large followings.
        let leaders = follows::table
            .filter(follows::follower_id.eq(viewer))
            .select(follows::leader_id);
        posts::table
            .filter(
                posts::author_id
                    .eq_any(leaders)
                    .or(posts::author_id.eq(viewer)),
            )
            .filter(
                posts::created_at
                    .lt(after.0)
                    .or(posts::created_at.eq(after.0).and(posts::id.lt(after.1))),
            )
            .order((posts::created_at.desc(), posts::id.desc()))
            .limit(limit)
            .select(posts::id)
            .load(self)
            .await
    }
}

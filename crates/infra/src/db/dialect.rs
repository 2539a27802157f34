//! The few steps whose SQL differs between the backends. Everything else is shared DSL.

use std::collections::BTreeMap;

use diesel::QueryResult;
use diesel::dsl::case_when;
use diesel::expression::functions::declare_sql_function;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Array, BigInt, Nullable, SingleValue};
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::feed::{
    Backfilled, Bounds, Entry, Key, PulledAuthor, PulledFollowees, merge_newest_first,
};
use super::models::{AuthorRow, PostRow};
use super::models::{NewFollowRow, NewLikeRow};
use super::page::PostWithLike;
use super::schema::{
    Instant, Ts, feed_entries, feed_state, follows, likes, posts, pulled_epoch, users,
};
use super::{IDS_PER_STATEMENT, SqliteConn};

/// What [`Dialect::add_follows`] did: the edges inserted, and per follower what their feed got.
pub(crate) type Added = (Vec<(i64, i64)>, Vec<(i64, Backfilled)>);

/// A change of one user's follow counters: `(user, following delta, follower delta)`.
pub(crate) type FollowCounts = (i64, i64, i64);

/// The counter changes of adding (`delta` 1) or removing (-1) the follows `(follower, leader)` of
/// `edges`: one entry per user, in ascending user id.
pub(crate) fn follow_counts(edges: &[(i64, i64)], delta: i64) -> Vec<FollowCounts> {
    let mut by_user: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for &(follower, leader) in edges {
        by_user.entry(follower).or_default().0 += delta;
        by_user.entry(leader).or_default().1 += delta;
    }
    by_user
        .into_iter()
        .map(|(user, (following, followers))| (user, following, followers))
        .collect()
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Ids of a comment and every reply beneath it, at any depth. `$1` is the post, `$2` the root.
/// `UNION`, not `UNION ALL`: should a cycle exist (a comment that is its own parent, which replies
/// could create before they were checked), the walk ends instead of running forever.
///
/// Each step reads the walk's newest rows first and looks their replies up in `comments_thread`
/// (`CROSS JOIN` makes SQLite keep that order: left to choose, SQLite 3.51 scanned every reply of
/// the post for each row of the walk, 11 minutes for a thread of 40,000; PostgreSQL reads `CROSS
/// JOIN ... WHERE` as the inner join it is).
const COMMENT_THREAD: &str = "
    WITH RECURSIVE thread (id) AS (
        SELECT id FROM comments WHERE post_id = $1 AND id = $2
        UNION
        SELECT c.id FROM thread t CROSS JOIN comments c WHERE c.post_id = $1 AND c.parent_id = t.id
    )
    SELECT id FROM thread";

/// Ids of every comment a user wrote on other people's posts, with every reply beneath them
/// (comments under the user's own posts go away with the posts). `$1` is the user. The walk's
/// order is forced as in [`COMMENT_THREAD`].
const THREADS_OF_AUTHOR: &str = "
    WITH RECURSIVE doomed (id, post_id) AS (
        SELECT c.id, c.post_id FROM comments c JOIN posts p ON p.id = c.post_id
        WHERE c.author_id = $1 AND p.author_id <> $1
        UNION
        SELECT c.id, c.post_id FROM doomed d CROSS JOIN comments c
            WHERE c.post_id = d.post_id AND c.parent_id = d.id
    )
    SELECT id FROM doomed";

/// Inserts the likes of `$users` on `$post` that do not exist yet, returning their users. One
/// statement whatever the batch size (the users travel as one array), so PostgreSQL prepares it
/// once per connection instead of parsing a new multi-row VALUES list for every batch.
const PG_INSERT_LIKES: &str = "
    INSERT INTO likes (post_id, user_id, created_at)
    SELECT $post, liker, $at FROM unnest($users) AS liker
    ON CONFLICT DO NOTHING
    RETURNING user_id";

struct PgInsertLikes<'a> {
    post: i64,
    users: &'a [i64],
    at: Ts,
}

impl Statement for PgInsertLikes<'_> {
    const SQL: &'static str = PG_INSERT_LIKES;
    type Id = PgInsertLikes<'static>;
    type SqlType = BigInt;

    fn bind<'b>(&'b self, name: &str, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match name {
            "post" => out.push_bind_param::<BigInt, _>(&self.post),
            "users" => out.push_bind_param::<Array<BigInt>, _>(&self.users),
            "at" => out.push_bind_param::<Instant, _>(&self.at),
            _ => Err(unknown_parameter(name)),
        }
    }
}

/// Inserts the follows `$followers[i]` → `$leaders[i]` that do not exist yet, moves both
/// counters of each inserted edge, and copies into each new follower's feed the newest `$backfill`
/// pushed posts of the leader (those created at or after the leader's `pulled_until`: none of an
/// author pulled now; written as a bound of the index range, so that a pulled author's posts are
/// not walked one by one). One statement, one round trip for the whole batch, prepared once
/// whatever its size. The caller has locked every user row involved, in ascending id, so the
/// counter update takes no lock of its own; the leaders' `pulled_until` is read from the same
/// snapshot (a data-modifying CTE's changes are invisible to its siblings, and `moved` changes
/// only counters).
///
/// Returns three kinds of rows: each inserted edge `(follower, leader)`; per follower, the entries
/// added (`leader` and `cut_at` NULL); per edge whose leader has more pushed posts than it copied,
/// the oldest copied (`copied` 0): the follower's feed is complete only from there (db/feed.rs).
const PG_FOLLOW: &str = "
    WITH inserted AS (
        INSERT INTO follows (follower_id, leader_id, created_at)
        SELECT follower, leader, $at FROM unnest($followers, $leaders) AS edge (follower, leader)
        ON CONFLICT DO NOTHING
        RETURNING follower_id, leader_id
    ),
    delta AS (
        SELECT id, sum(following) AS following, sum(followers) AS followers FROM (
            SELECT follower_id AS id, 1 AS following, 0 AS followers FROM inserted
            UNION ALL
            SELECT leader_id, 0, 1 FROM inserted
        ) AS ends
        GROUP BY id
    ),
    moved AS (
        UPDATE users
        SET following_count = following_count + delta.following,
            follower_count = follower_count + delta.followers,
            follows_version = follows_version + CASE WHEN delta.following <> 0 THEN 1 ELSE 0 END
        FROM delta
        WHERE users.id = delta.id
    ),
    edge AS (
        SELECT i.follower_id AS follower, i.leader_id AS leader, u.pulled_until
        FROM inserted i JOIN users u ON u.id = i.leader_id
    ),
    newest AS (
        SELECT edge.follower, edge.leader, p.created_at, p.id,
               row_number() OVER (PARTITION BY edge.follower, edge.leader
                                  ORDER BY p.created_at DESC, p.id DESC) AS rank
        FROM edge CROSS JOIN LATERAL (
            SELECT created_at, id FROM posts
            WHERE author_id = edge.leader
              AND created_at >= COALESCE(edge.pulled_until, '-infinity')
            ORDER BY created_at DESC, id DESC
            LIMIT $backfill + 1
        ) AS p
    ),
    copied AS (
        INSERT INTO feed_entries (viewer_id, created_at, post_id, author_id)
        SELECT follower, created_at, id, leader FROM newest WHERE rank <= $backfill
        ORDER BY follower
        ON CONFLICT DO NOTHING
        RETURNING viewer_id
    )
    SELECT follower_id, leader_id, NULL::bigint, NULL::timestamptz, NULL::bigint FROM inserted
    UNION ALL
    SELECT n.follower, NULL, 0::bigint, n.created_at, n.id FROM newest n
    WHERE n.rank = $backfill AND EXISTS (
        SELECT 1 FROM newest m
        WHERE m.follower = n.follower AND m.leader = n.leader AND m.rank = $backfill + 1
    )
    UNION ALL
    SELECT viewer_id, NULL, count(*), NULL, NULL FROM copied GROUP BY viewer_id";

struct PgFollow<'a> {
    followers: &'a [i64],
    leaders: &'a [i64],
    at: Ts,
    backfill: i64,
}

impl Statement for PgFollow<'_> {
    const SQL: &'static str = PG_FOLLOW;
    type Id = PgFollow<'static>;
    type SqlType = (
        BigInt,
        Nullable<BigInt>,
        Nullable<BigInt>,
        Nullable<Instant>,
        Nullable<BigInt>,
    );

    fn bind<'b>(&'b self, name: &str, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match name {
            "followers" => out.push_bind_param::<Array<BigInt>, _>(&self.followers),
            "leaders" => out.push_bind_param::<Array<BigInt>, _>(&self.leaders),
            "at" => out.push_bind_param::<Instant, _>(&self.at),
            "backfill" => out.push_bind_param::<BigInt, _>(&self.backfill),
            _ => Err(unknown_parameter(name)),
        }
    }
}

/// The keys of the newest `$limit` posts of the authors `$authors[i]` created before
/// `$untils[i]`, from `$floor` (included) to `$start` (excluded): one index range of
/// `posts_author_recent` per author, merged.
const PG_POSTS_OF_AUTHORS: &str = "
    SELECT p.created_at, p.id
    FROM unnest($authors, $untils) AS a (author, until)
    CROSS JOIN LATERAL (
        SELECT created_at, id FROM posts
        WHERE author_id = a.author AND created_at < a.until
          AND created_at <= $startat AND (created_at < $startat OR id < $startid)
          AND created_at >= $floorat AND (created_at > $floorat OR id >= $floorid)
        ORDER BY created_at DESC, id DESC
        LIMIT $limit
    ) AS p
    ORDER BY p.created_at DESC, p.id DESC
    LIMIT $limit";

/// The parameters the statements of one author's posts after a key share: `$startat`,
/// `$startid`, `$floorat`, `$floorid` and `$limit`.
fn bind_range<'b>(
    name: &str,
    floor: &'b Key,
    start: &'b Key,
    limit: &'b i64,
    out: &mut AstPass<'_, 'b, Pg>,
) -> QueryResult<()> {
    match name {
        "startat" => out.push_bind_param::<Instant, _>(&start.0),
        "startid" => out.push_bind_param::<BigInt, _>(&start.1),
        "floorat" => out.push_bind_param::<Instant, _>(&floor.0),
        "floorid" => out.push_bind_param::<BigInt, _>(&floor.1),
        "limit" => out.push_bind_param::<BigInt, _>(limit),
        _ => Err(unknown_parameter(name)),
    }
}

/// The newest `$kept` posts of each of `$authors`, with the author's `posts_version` read in the
/// same statement (db/pulled_posts.rs); an author without posts once, with no post.
const PG_PULLED_POST_KEYS: &str = "
    SELECT u.id, u.posts_version, p.created_at, p.id
    FROM users AS u
    LEFT JOIN LATERAL (
        SELECT created_at, id FROM posts
        WHERE author_id = u.id
        ORDER BY created_at DESC, id DESC
        LIMIT $kept
    ) AS p ON true
    WHERE u.id = ANY($authors)";

struct PgPulledPostKeys<'a> {
    authors: &'a [i64],
    kept: i64,
}

impl Statement for PgPulledPostKeys<'_> {
    const SQL: &'static str = PG_PULLED_POST_KEYS;
    type Id = PgPulledPostKeys<'static>;
    type SqlType = (BigInt, BigInt, Nullable<Instant>, Nullable<BigInt>);

    fn bind<'b>(&'b self, name: &str, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match name {
            "authors" => out.push_bind_param::<Array<BigInt>, _>(&self.authors),
            "kept" => out.push_bind_param::<BigInt, _>(&self.kept),
            _ => Err(unknown_parameter(name)),
        }
    }
}

struct PgPostsOfAuthors<'a> {
    authors: &'a [i64],
    untils: &'a [Ts],
    floor: Key,
    start: Key,
    limit: i64,
}

impl Statement for PgPostsOfAuthors<'_> {
    const SQL: &'static str = PG_POSTS_OF_AUTHORS;
    type Id = PgPostsOfAuthors<'static>;
    type SqlType = (Instant, BigInt);

    fn bind<'b>(&'b self, name: &str, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match name {
            "authors" => out.push_bind_param::<Array<BigInt>, _>(&self.authors),
            "untils" => out.push_bind_param::<Array<Instant>, _>(&self.untils),
            _ => bind_range(name, &self.floor, &self.start, &self.limit, out),
        }
    }
}

/// Moves the follow counters of many users in one statement: user `$ids[i]` gains
/// `$following[i]` followed accounts and `$followers[i]` followers (negative: loses). The rows are
/// already locked, in ascending id, by the caller.
const PG_MOVE_FOLLOW_COUNTS: &str = "
    UPDATE users
    SET following_count = following_count + delta.following,
        follower_count = follower_count + delta.followers,
        follows_version = follows_version + CASE WHEN delta.following <> 0 THEN 1 ELSE 0 END
    FROM unnest($ids, $following, $followers) AS delta (id, following, followers)
    WHERE users.id = delta.id";

struct PgMoveFollowCounts<'a> {
    ids: &'a [i64],
    following: &'a [i64],
    followers: &'a [i64],
}

impl Statement for PgMoveFollowCounts<'_> {
    const SQL: &'static str = PG_MOVE_FOLLOW_COUNTS;
    type Id = PgMoveFollowCounts<'static>;
    /// Returns no rows: run with `execute`.
    type SqlType = diesel::sql_types::Untyped;

    fn bind<'b>(&'b self, name: &str, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match name {
            "ids" => out.push_bind_param::<Array<BigInt>, _>(&self.ids),
            "following" => out.push_bind_param::<Array<BigInt>, _>(&self.following),
            "followers" => out.push_bind_param::<Array<BigInt>, _>(&self.followers),
            _ => Err(unknown_parameter(name)),
        }
    }
}

/// A constant PostgreSQL statement diesel cannot express, with named `$parameters` bound from its
/// fields. Run as [`Named`], it is a diesel query like any other: prepared once per connection
/// and cached (unlike `sql_query`, whose text diesel never caches).
trait Statement {
    /// The statement, with `$name` parameters (see [`push_named_sql`]).
    const SQL: &'static str;
    /// A `'static` type unique to the statement: its key in the prepared-statement cache.
    type Id: 'static;
    /// The SQL type of a row it returns.
    type SqlType;
    /// Binds the parameter `name`.
    fn bind<'b>(&'b self, name: &str, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

/// A [`Statement`] as a diesel query.
struct Named<S>(S);

impl<S: Statement> diesel::query_builder::QueryId for Named<S> {
    type QueryId = S::Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<S: Statement> diesel::query_builder::Query for Named<S> {
    type SqlType = S::SqlType;
}

impl<S: Statement> QueryFragment<Pg> for Named<S> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        push_named_sql(out, S::SQL, |name, out| self.0.bind(name, out))
    }
}

/// Writes `sql`, turning each `$name` into the next positional parameter, bound by `bind`. A
/// value used several times is bound several times. Statements written this way, unlike
/// `sql_query`, go into the connection's prepared-statement cache.
fn push_named_sql<'b>(
    mut out: AstPass<'_, 'b, Pg>,
    sql: &str,
    mut bind: impl FnMut(&str, &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>,
) -> QueryResult<()> {
    let mut rest = sql;
    while let Some(start) = rest.find('$') {
        out.push_sql(&rest[..start]);
        let name = &rest[start + 1..];
        let len = name
            .find(|c: char| !c.is_ascii_lowercase())
            .unwrap_or(name.len());
        bind(&name[..len], &mut out)?;
        rest = &name[len..];
    }
    out.push_sql(rest);
    Ok(())
}

fn unknown_parameter(name: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("no value for the parameter ${name}").into())
}

fn sqlite_placeholders(sql: &str) -> String {
    // SQLite's numbered parameters (?1, ?2) bind like PostgreSQL's $1, $2, reuse included.
    sql.replace('$', "?")
}

fn ids(rows: Vec<IdRow>) -> Vec<i64> {
    rows.into_iter().map(|r| r.id).collect()
}

/// Rows per multi-row insert: within SQLite's and PostgreSQL's parameter limits at 4 columns.
const ROWS_PER_INSERT: usize = 1_000;

/// A row of `feed_entries`, as diesel inserts it.
type EntryRow = (
    diesel::dsl::Eq<feed_entries::viewer_id, i64>,
    diesel::dsl::Eq<feed_entries::created_at, Ts>,
    diesel::dsl::Eq<feed_entries::post_id, i64>,
    diesel::dsl::Eq<feed_entries::author_id, i64>,
);

/// The feed row of `entry` for `viewer`.
fn entry_row(entry: Entry, viewer: i64) -> EntryRow {
    (
        feed_entries::viewer_id.eq(viewer),
        feed_entries::created_at.eq(entry.created_at),
        feed_entries::post_id.eq(entry.post_id),
        feed_entries::author_id.eq(entry.author_id),
    )
}

/// Backend-specific steps. On PostgreSQL they take row locks; on SQLite the transaction already
/// holds the database's write lock (BEGIN IMMEDIATE), so they only read.
pub(crate) trait Dialect: Send {
    /// Locks user rows whose counters will change (`FOR NO KEY UPDATE`, ascending id) and
    /// returns those that exist: `(id, following_count)`, ascending.
    async fn lock_users(&mut self, ids: &[i64]) -> QueryResult<Vec<(i64, i64)>>;

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

    /// Inserts the likes of `users` on `post` that do not exist yet and returns the users whose
    /// like was new.
    async fn insert_likes(&mut self, post: i64, users: &[i64], at: Ts) -> QueryResult<Vec<i64>>;

    /// Inserts the follows `(follower, leader)` of `edges` that do not exist yet, moves both
    /// counters of each, and copies into each new follower's feed the newest `backfill` pushed
    /// posts of the leader (see [`PG_FOLLOW`]). Returns the edges inserted, and what it did to
    /// each follower's feed (one item per edge or per follower; the caller sums them). Both users
    /// of every edge exist and are locked.
    async fn add_follows(
        &mut self,
        edges: &[(i64, i64)],
        at: Ts,
        backfill: i64,
    ) -> QueryResult<Added>;

    /// Applies `(user, following delta, follower delta)` to the users' follow counters; each user
    /// at most once, every row already locked.
    async fn move_follow_counts(&mut self, deltas: &[FollowCounts]) -> QueryResult<()>;

    /// Copies `entry` into the feeds of `viewers` that lack it; returns those viewers.
    async fn insert_entries(&mut self, entry: Entry, viewers: &[i64]) -> QueryResult<Vec<i64>>;

    /// Raises the `entries_at_most` of each `(viewer, by)` (ascending viewer), creating the state
    /// row where there is none; returns each viewer's new bound.
    async fn raise_bounds(&mut self, raises: &[(i64, i64)]) -> QueryResult<Vec<(i64, i64)>>;

    /// A page of `viewer`'s materialised entries after `start`, newest first, with their posts;
    /// and, where the same statement can tell (PostgreSQL, when the page has an entry to carry
    /// it), the viewer's [`Bounds`] as of that statement's snapshot.
    async fn materialised(
        &mut self,
        viewer: i64,
        start: Key,
        limit: i64,
        known: Option<&PulledFollowees>,
    ) -> QueryResult<(Vec<PostWithLike>, Option<Bounds>)>;

    /// The newest `kept` posts of each of `authors`: `(author, posts_version, key)`, read in one
    /// snapshot; an author without posts once, with no key.
    async fn pulled_post_keys(
        &mut self,
        authors: &[i64],
        kept: i64,
    ) -> QueryResult<Vec<(i64, i64, Option<Key>)>>;

    /// See [`PG_POSTS_OF_AUTHORS`]: `authors` are `(author, until)`.
    async fn posts_of_authors(
        &mut self,
        authors: &[(i64, Ts)],
        floor: Key,
        start: Key,
        limit: i64,
    ) -> QueryResult<Vec<Key>>;
}

#[declare_sql_function]
extern "SQL" {
    /// PostgreSQL's `array_agg`: NULL over no rows.
    #[aggregate]
    fn array_agg<ST: SingleValue>(expr: ST) -> Nullable<Array<ST>>;

    /// `coalesce`: `value`, or `otherwise` where it is NULL.
    fn coalesce<ST: SingleValue>(value: Nullable<ST>, otherwise: ST) -> ST;
}

impl Dialect for AsyncPgConnection {
    async fn materialised(
        &mut self,
        viewer: i64,
        start: Key,
        limit: i64,
        known: Option<&PulledFollowees>,
    ) -> QueryResult<(Vec<PostWithLike>, Option<Bounds>)> {
        // The horizon and the pulled followees as sub-selects (computed once per statement): the
        // common page is then this one statement, instead of three round trips.
        let state = || feed_state::table.find(viewer);
        let horizon_at = state().select(feed_state::horizon_at).single_value();
        let horizon_id = state().select(feed_state::horizon_id).single_value();
        // The time of the page's last entry, when the page is full: a pulled author whose last
        // post is older cannot be on it (`users.last_post_at`), nor one whose pulled posts are
        // all older (`pulled_until`: an author pushed again since), and is left out of the list,
        // so that a page of a viewer whose pulled followees posted nothing since needs no second
        // statement.
        // (Aliases: the page's own FROM holds `feed_entries`, and joins `users` for the posts'
        // authors.)
        let (entries, leaders) = diesel::alias!(feed_entries as entries, users as leaders);
        let last_at = newest_first_page!(
            entries.filter(entries.field(feed_entries::viewer_id).eq(viewer)),
            entries.field(feed_entries::created_at),
            entries.field(feed_entries::post_id),
            (start.0, start.1),
            1
        )
        .offset(limit - 1)
        .select(entries.field(feed_entries::created_at))
        .single_value();
        // The pulled followees `known` remembers, and the numbers that say whether it still
        // holds (db/feed.rs, `PulledFollowees`): reading them from the follows would scan every
        // follow of the viewer.
        let known_ids: &[i64] = known.map_or(&[], |known| &known.ids);
        let epoch = pulled_epoch::table
            .select(pulled_epoch::epoch)
            .single_value();
        let version = leaders
            .filter(leaders.field(users::id).eq(viewer))
            .select(leaders.field(users::follows_version))
            .single_value();
        let pulled = leaders
            .filter(leaders.field(users::id).eq_any(known_ids))
            .filter(leaders.field(users::pulled_until).is_not_null())
            .filter(
                last_at.is_null().or(leaders
                    .field(users::last_post_at)
                    .ge(last_at)
                    .and(leaders.field(users::pulled_until).gt(last_at))),
            )
            // Their ids, then their `posts_version`s in the same order (one aggregation reads
            // both): a sub-select has one column, and diesel reads no array of pairs. None is
            // `{}`, not NULL (which means the list was not read, below).
            .select(coalesce(
                array_agg(leaders.field(users::id))
                    .concat(array_agg(leaders.field(users::posts_version))),
                Vec::<i64>::new(),
            ))
            .single_value();
        // Only the page's first row carries them (the one the bounds are read from): on every
        // row, a mixed reader's 100 pulled followees were 31 copies of 200 numbers, 75 KB a page
        // for PostgreSQL to send and for the server to decode.
        let first = newest_first_page!(
            entries.filter(entries.field(feed_entries::viewer_id).eq(viewer)),
            entries.field(feed_entries::created_at),
            entries.field(feed_entries::post_id),
            (start.0, start.1),
            1
        )
        .select(entries.field(feed_entries::post_id))
        .single_value();
        let pulled = case_when(feed_entries::post_id.nullable().eq(first), pulled);
        // The columns of `post_with_like_columns!`, then the bounds: one flat tuple.
        type Row = (
            PostRow,
            AuthorRow,
            Option<i64>,
            Option<Ts>,
            Option<i64>,
            Option<Vec<i64>>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Row> = materialised_page!(viewer, start, limit)
            .select((
                PostRow::as_select(),
                AuthorRow::as_select(),
                likes::user_id.nullable(),
                horizon_at,
                horizon_id,
                pulled,
                epoch,
                version,
            ))
            .load(self)
            .await?;
        // Their `pulled_until` and `last_post_at` stay in the statement: a post at or after an
        // author's `pulled_until` is also an entry (or on its way from the outbox), and the page
        // shows a post found twice once.
        let bounds = rows
            .as_slice()
            .first()
            .map(|(.., at, id, pulled, epoch, version)| {
                let dated = epoch.zip(*version);
                let holds = known.is_some_and(|known| Some((known.epoch, known.version)) == dated);
                // NULL only if this row did not carry the list: read it from the follows then.
                let pulled = pulled.as_deref().filter(|_| holds).map(|pulled| {
                    let (ids, versions) = pulled.split_at(pulled.len() / 2);
                    ids.iter()
                        .zip(versions)
                        .map(|(&id, &posts_version)| PulledAuthor {
                            id,
                            until: Ts::latest(),
                            newest: Ts::latest(),
                            posts_version,
                        })
                        .collect()
                });
                Bounds {
                    horizon: at.zip(*id),
                    pulled,
                    dated,
                }
            });
        let rows = rows.into_iter();
        Ok((
            rows.map(|(post, author, like, ..)| (post, author, like))
                .collect(),
            bounds,
        ))
    }

    async fn insert_entries(&mut self, entry: Entry, viewers: &[i64]) -> QueryResult<Vec<i64>> {
        let mut inserted = Vec::with_capacity(viewers.len());
        for chunk in viewers.chunks(ROWS_PER_INSERT) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|&viewer| entry_row(entry, viewer))
                .collect();
            let new: Vec<i64> = diesel::insert_into(feed_entries::table)
                .values(rows)
                .on_conflict_do_nothing()
                .returning(feed_entries::viewer_id)
                .get_results(self)
                .await?;
            inserted.extend(new);
        }
        Ok(inserted)
    }

    async fn raise_bounds(&mut self, raises: &[(i64, i64)]) -> QueryResult<Vec<(i64, i64)>> {
        let mut raised = Vec::with_capacity(raises.len());
        for chunk in raises.chunks(ROWS_PER_INSERT) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|&(viewer, by)| {
                    (
                        feed_state::viewer_id.eq(viewer),
                        feed_state::entries_at_most.eq(by),
                    )
                })
                .collect();
            let new: Vec<(i64, i64)> = diesel::insert_into(feed_state::table)
                .values(rows)
                .on_conflict(feed_state::viewer_id)
                .do_update()
                .set(
                    feed_state::entries_at_most
                        .eq(feed_state::entries_at_most + excluded(feed_state::entries_at_most)),
                )
                .returning((feed_state::viewer_id, feed_state::entries_at_most))
                .get_results(self)
                .await?;
            raised.extend(new);
        }
        Ok(raised)
    }

    async fn posts_of_authors(
        &mut self,
        authors: &[(i64, Ts)],
        floor: Key,
        start: Key,
        limit: i64,
    ) -> QueryResult<Vec<Key>> {
        let (authors, untils): (Vec<i64>, Vec<Ts>) = authors.iter().copied().unzip();
        Named(PgPostsOfAuthors {
            authors: &authors,
            untils: &untils,
            floor,
            start,
            limit,
        })
        .load(self)
        .await
    }

    async fn pulled_post_keys(
        &mut self,
        authors: &[i64],
        kept: i64,
    ) -> QueryResult<Vec<(i64, i64, Option<Key>)>> {
        type Row = (i64, i64, Option<Ts>, Option<i64>);
        let rows: Vec<Row> = Named(PgPulledPostKeys { authors, kept }).load(self).await?;
        Ok(rows
            .into_iter()
            .map(|(author, version, at, id)| (author, version, at.zip(id)))
            .collect())
    }

    async fn insert_likes(&mut self, post: i64, users: &[i64], at: Ts) -> QueryResult<Vec<i64>> {
        Named(PgInsertLikes { post, users, at }).load(self).await
    }

    async fn add_follows(
        &mut self,
        edges: &[(i64, i64)],
        at: Ts,
        backfill: i64,
    ) -> QueryResult<Added> {
        let (followers, leaders): (Vec<i64>, Vec<i64>) = edges.iter().copied().unzip();
        // (follower, leader of an inserted edge, entries copied, cut at, cut id): see PG_FOLLOW.
        type Row = (i64, Option<i64>, Option<i64>, Option<Ts>, Option<i64>);
        let rows: Vec<Row> = Named(PgFollow {
            followers: &followers,
            leaders: &leaders,
            at,
            backfill,
        })
        .load(self)
        .await?;
        let (mut inserted, mut backfilled) = (Vec::new(), Vec::new());
        for (follower, leader, copied, at, id) in rows {
            match (leader, copied) {
                (Some(leader), _) => inserted.push((follower, leader)),
                (None, copied) => backfilled.push((
                    follower,
                    Backfilled {
                        copied: copied.unwrap_or(0),
                        cut: at.zip(id),
                    },
                )),
            }
        }
        Ok((inserted, backfilled))
    }

    async fn move_follow_counts(&mut self, deltas: &[FollowCounts]) -> QueryResult<()> {
        let mut ids = Vec::with_capacity(deltas.len());
        let mut following = Vec::with_capacity(deltas.len());
        let mut followers = Vec::with_capacity(deltas.len());
        for &(id, ing, ers) in deltas {
            ids.push(id);
            following.push(ing);
            followers.push(ers);
        }
        Named(PgMoveFollowCounts {
            ids: &ids,
            following: &following,
            followers: &followers,
        })
        .execute(self)
        .await
        .map(drop)
    }

    async fn lock_users(&mut self, ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
        users::table
            .filter(users::id.eq_any(ids))
            .order(users::id)
            .select((users::id, users::following_count))
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
}

impl Dialect for SqliteConn {
    async fn materialised(
        &mut self,
        viewer: i64,
        start: Key,
        limit: i64,
        _known: Option<&PulledFollowees>,
    ) -> QueryResult<(Vec<PostWithLike>, Option<Bounds>)> {
        // No round trips to save: the bounds, and the pulled followees, are read by their own
        // statements at every page.
        let rows = materialised_page!(viewer, start, limit)
            .select(post_with_like_columns!())
            .load(self)
            .await?;
        Ok((rows, None))
    }

    async fn insert_entries(&mut self, entry: Entry, viewers: &[i64]) -> QueryResult<Vec<i64>> {
        // Row by row: diesel has no batch insert with ON CONFLICT for SQLite, and rows cost no
        // round trips here.
        let mut inserted = Vec::with_capacity(viewers.len());
        for &viewer in viewers {
            let added = diesel::insert_into(feed_entries::table)
                .values(entry_row(entry, viewer))
                .on_conflict_do_nothing()
                .execute(self)
                .await?;
            if added == 1 {
                inserted.push(viewer);
            }
        }
        Ok(inserted)
    }

    async fn raise_bounds(&mut self, raises: &[(i64, i64)]) -> QueryResult<Vec<(i64, i64)>> {
        let mut raised = Vec::with_capacity(raises.len());
        for &(viewer, by) in raises {
            let bound: i64 = diesel::insert_into(feed_state::table)
                .values((
                    feed_state::viewer_id.eq(viewer),
                    feed_state::entries_at_most.eq(by),
                ))
                .on_conflict(feed_state::viewer_id)
                .do_update()
                .set(feed_state::entries_at_most.eq(feed_state::entries_at_most + by))
                .returning(feed_state::entries_at_most)
                .get_result(self)
                .await?;
            raised.push((viewer, bound));
        }
        Ok(raised)
    }

    async fn posts_of_authors(
        &mut self,
        authors: &[(i64, Ts)],
        floor: Key,
        start: Key,
        limit: i64,
    ) -> QueryResult<Vec<Key>> {
        // One index range per author: no round trips here.
        let mut keys = Vec::new();
        for &(author, until) in authors {
            let some: Vec<Key> = newest_first_page!(
                posts::table
                    .filter(posts::author_id.eq(author))
                    .filter(posts::created_at.lt(until))
                    .filter(key_at_or_after!(posts::created_at, posts::id, floor)),
                posts::created_at,
                posts::id,
                (start.0, start.1),
                limit
            )
            .select((posts::created_at, posts::id))
            .load(self)
            .await?;
            keys = merge_newest_first(keys, some, limit);
        }
        Ok(keys)
    }

    async fn pulled_post_keys(
        &mut self,
        authors: &[i64],
        kept: i64,
    ) -> QueryResult<Vec<(i64, i64, Option<Key>)>> {
        // One statement per author: no round trips here. The left join keeps an author without
        // posts, with their version.
        let mut rows = Vec::new();
        for &author in authors {
            let some: Vec<(i64, Option<Ts>, Option<i64>)> = users::table
                .left_join(posts::table.on(posts::author_id.eq(users::id)))
                .filter(users::id.eq(author))
                .order((posts::created_at.desc(), posts::id.desc()))
                .limit(kept)
                .select((
                    users::posts_version,
                    posts::created_at.nullable(),
                    posts::id.nullable(),
                ))
                .load(self)
                .await?;
            rows.extend(
                some.into_iter()
                    .map(|(version, at, id)| (author, version, at.zip(id))),
            );
        }
        Ok(rows)
    }

    async fn insert_likes(&mut self, post: i64, users: &[i64], at: Ts) -> QueryResult<Vec<i64>> {
        // Row by row costs no round trips here, and the transaction already holds the write lock.
        let mut inserted = Vec::new();
        for &user_id in users {
            let row = NewLikeRow {
                user_id,
                post_id: post,
                created_at: at,
            };
            let added = diesel::insert_into(likes::table)
                .values(&row)
                .on_conflict_do_nothing()
                .execute(self)
                .await?;
            if added == 1 {
                inserted.push(user_id);
            }
        }
        Ok(inserted)
    }

    async fn add_follows(
        &mut self,
        edges: &[(i64, i64)],
        at: Ts,
        backfill: i64,
    ) -> QueryResult<Added> {
        let mut inserted = Vec::new();
        for &(follower_id, leader_id) in edges {
            let added = diesel::insert_into(follows::table)
                .values(NewFollowRow {
                    follower_id,
                    leader_id,
                    created_at: at,
                })
                .on_conflict_do_nothing()
                .execute(self)
                .await?;
            if added == 1 {
                inserted.push((follower_id, leader_id));
            }
        }
        self.move_follow_counts(&follow_counts(&inserted, 1))
            .await?;
        let backfilled = sqlite_backfill(self, &inserted, backfill).await?;
        Ok((inserted, backfilled))
    }

    async fn move_follow_counts(&mut self, deltas: &[FollowCounts]) -> QueryResult<()> {
        for &(id, following, followers) in deltas {
            diesel::update(users::table.find(id))
                .set((
                    users::following_count.eq(users::following_count + following),
                    users::follower_count.eq(users::follower_count + followers),
                    users::follows_version.eq(users::follows_version + i64::from(following != 0)),
                ))
                .execute(self)
                .await?;
        }
        Ok(())
    }

    async fn lock_users(&mut self, ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let rows: Vec<(i64, i64)> = users::table
                .filter(users::id.eq_any(chunk))
                .select((users::id, users::following_count))
                .load(self)
                .await?;
            found.extend(rows);
        }
        found.sort_unstable();
        Ok(found)
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
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let rows: Vec<i64> = posts::table
                .filter(posts::id.eq_any(chunk))
                .select(posts::id)
                .load(self)
                .await?;
            found.extend(rows);
        }
        found.sort_unstable();
        Ok(found)
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
}

/// [`Dialect::add_follows`]'s backfill on SQLite: edge by edge, each a few indexed reads.
async fn sqlite_backfill(
    conn: &mut SqliteConn,
    edges: &[(i64, i64)],
    backfill: i64,
) -> QueryResult<Vec<(i64, Backfilled)>> {
    let mut done = Vec::with_capacity(edges.len());
    for &(follower, leader) in edges {
        let until: Option<Ts> = users::table
            .find(leader)
            .select(users::pulled_until)
            .first(conn)
            .await?;
        let newest: Vec<Key> = posts::table
            .filter(posts::author_id.eq(leader))
            .filter(posts::created_at.ge(until.unwrap_or(Ts::earliest())))
            .order((posts::created_at.desc(), posts::id.desc()))
            .select((posts::created_at, posts::id))
            .limit(backfill + 1)
            .load(conn)
            .await?;
        let copy = &newest[..newest.len().min(usize::try_from(backfill).unwrap_or(0))];
        let mut copied = 0;
        for &(created_at, post_id) in copy {
            let entry = Entry {
                post_id,
                author_id: leader,
                created_at,
            };
            copied += conn.insert_entries(entry, &[follower]).await?.len();
        }
        let cut = (newest.len() > copy.len())
            .then(|| copy.last().copied())
            .flatten();
        done.push((
            follower,
            Backfilled {
                copied: copied as i64,
                cut,
            },
        ));
    }
    Ok(done)
}

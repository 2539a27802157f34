//! The tables, written once for both backends (diesel's CLI would print one schema per backend).
//! Only timestamps differ in storage; [`Instant`] hides that difference.

use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{BigInt, SqlType, Timestamptz};
use diesel::sqlite::{Sqlite, SqliteValue};

/// A point in time: `timestamptz` on PostgreSQL, integer microseconds on SQLite.
#[derive(Debug, Clone, Copy, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Long"))]
pub struct Instant;

/// A timestamp as stored: microsecond precision on both backends, so what is written is
/// exactly what is read back (and a cursor made from it matches the row it came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = Instant)]
pub struct Ts(pub DateTime<Utc>);

impl Ts {
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    /// Before every stored timestamp (0001-01-01), within both backends' ranges: the start of an
    /// oldest-first list. (chrono's own minimum is below PostgreSQL's.)
    pub fn earliest() -> Self {
        Self(DateTime::from_timestamp(-62_135_596_800, 0).unwrap_or(DateTime::UNIX_EPOCH))
    }

    /// After every stored timestamp (9999-12-31): the start of a newest-first list.
    pub fn latest() -> Self {
        Self(DateTime::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC))
    }
}

impl From<DateTime<Utc>> for Ts {
    fn from(value: DateTime<Utc>) -> Self {
        let micros = value.timestamp_micros();
        Self(DateTime::from_timestamp_micros(micros).unwrap_or(value))
    }
}

impl ToSql<Instant, Pg> for Ts {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        ToSql::<Timestamptz, Pg>::to_sql(&self.0, &mut out.reborrow())
    }
}

impl FromSql<Instant, Pg> for Ts {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <DateTime<Utc> as FromSql<Timestamptz, Pg>>::from_sql(bytes).map(Self)
    }
}

impl ToSql<Instant, Sqlite> for Ts {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.timestamp_micros());
        Ok(serialize::IsNull::No)
    }
}

impl FromSql<Instant, Sqlite> for Ts {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let micros = <i64 as FromSql<BigInt, Sqlite>>::from_sql(value)?;
        DateTime::from_timestamp_micros(micros)
            .map(Self)
            .ok_or_else(|| format!("timestamp out of range: {micros}").into())
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;

    users (id) {
        id -> BigInt,
        email -> Text,
        email_key -> Text,
        full_name -> Text,
        bio -> Text,
        password_hash -> Text,
        avatar_key -> Nullable<Text>,
        post_count -> BigInt,
        follower_count -> BigInt,
        following_count -> BigInt,
        created_at -> Instant,
        /// This author's posts created before it are merged into feeds at read time (see
        /// migrations/*_feed_bounds); NULL: none.
        pulled_until -> Nullable<Instant>,
        /// Every post of this author was created at or before it (see migrations/*_last_post_at);
        /// NULL: the author never posted.
        last_post_at -> Nullable<Instant>,
        /// Raised by every change of this user's follows (see migrations/*_pulled_followees).
        follows_version -> BigInt,
        /// Raised by every post and every deletion of a post of this user's (see
        /// migrations/*_pulled_posts).
        posts_version -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;

    tokens (hash) {
        hash -> Binary,
        user_id -> BigInt,
        created_at -> Instant,
        last_used_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;

    follows (follower_id, leader_id) {
        follower_id -> BigInt,
        leader_id -> BigInt,
        created_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;

    posts (id) {
        id -> BigInt,
        author_id -> BigInt,
        image_key -> Text,
        thumbnail_key -> Text,
        width -> Integer,
        height -> Integer,
        caption -> Text,
        alt_text -> Text,
        likes_count -> BigInt,
        comments_count -> BigInt,
        created_at -> Instant,
        updated_at -> Instant,
        blurhash -> Nullable<Text>,
        dominant_color -> Nullable<Text>,
        /// 1 to 10; the second to tenth pictures are in `post_media`.
        picture_count -> SmallInt,
        medium_key -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    /// The second to tenth pictures of a post (the first is in its `posts` row).
    post_media (post_id, position) {
        post_id -> BigInt,
        position -> SmallInt,
        image_key -> Text,
        thumbnail_key -> Text,
        width -> Integer,
        height -> Integer,
        alt_text -> Text,
        blurhash -> Text,
        dominant_color -> Text,
        medium_key -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;

    likes (post_id, user_id) {
        user_id -> BigInt,
        post_id -> BigInt,
        created_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;

    comments (id) {
        id -> BigInt,
        author_id -> BigInt,
        post_id -> BigInt,
        parent_id -> Nullable<BigInt>,
        content -> Text,
        reply_count -> BigInt,
        created_at -> Instant,
        updated_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;

    /// The materialised home feed: one row per post a viewer's feed shows.
    feed_entries (viewer_id, created_at, post_id) {
        viewer_id -> BigInt,
        created_at -> Instant,
        post_id -> BigInt,
        author_id -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;

    /// Per viewer: a bound on the feed's rows, and the horizon below which it is incomplete.
    feed_state (viewer_id) {
        viewer_id -> BigInt,
        entries_at_most -> BigInt,
        horizon_at -> Nullable<Instant>,
        horizon_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::Instant;

    /// Posts whose fan-out to followers is pending, with the position it has reached.
    feed_outbox (post_id) {
        post_id -> BigInt,
        author_id -> BigInt,
        created_at -> Instant,
        next_at -> Nullable<Instant>,
        next_follower -> Nullable<BigInt>,
        failures -> Integer,
        retry_at -> Nullable<Instant>,
    }
}

diesel::table! {
    /// One row: raised whenever an author becomes pulled for the first time (see
    /// migrations/*_pulled_followees).
    pulled_epoch (id) {
        id -> Integer,
        epoch -> BigInt,
    }
}

diesel::joinable!(tokens -> users (user_id));
diesel::joinable!(posts -> users (author_id));
diesel::joinable!(comments -> users (author_id));
diesel::joinable!(comments -> posts (post_id));
diesel::joinable!(likes -> posts (post_id));
diesel::joinable!(likes -> users (user_id));
diesel::joinable!(feed_entries -> posts (post_id));
diesel::joinable!(post_media -> posts (post_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    tokens,
    follows,
    posts,
    post_media,
    likes,
    comments,
    feed_entries,
    feed_state,
    feed_outbox,
    pulled_epoch
);

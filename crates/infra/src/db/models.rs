//! Rows as diesel reads and writes them, each checked against both backends at compile time, and
//! their conversion into domain entities.

use being_social_domain::model::{
    Comment, CommentId, Picture, Placeholder, Post, PostId, User, UserId, UserSummary,
};
use diesel::prelude::*;

use super::schema::{Ts, comments, follows, likes, post_media, posts, tokens, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub full_name: String,
    pub bio: String,
    pub avatar_key: Option<String>,
    pub post_count: i64,
    pub follower_count: i64,
    pub following_count: i64,
    pub created_at: Ts,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: UserId::new(row.id),
            email: row.email,
            full_name: row.full_name,
            bio: row.bio,
            avatar_key: row.avatar_key,
            post_count: row.post_count,
            follower_count: row.follower_count,
            following_count: row.following_count,
            created_at: row.created_at.0,
        }
    }
}

/// What a post or comment shows of its author.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AuthorRow {
    pub id: i64,
    pub full_name: String,
    pub avatar_key: Option<String>,
}

impl From<AuthorRow> for UserSummary {
    fn from(row: AuthorRow) -> Self {
        Self {
            id: UserId::new(row.id),
            full_name: row.full_name,
            avatar_key: row.avatar_key,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUserRow<'a> {
    pub email: &'a str,
    pub email_key: String,
    pub full_name: &'a str,
    pub password_hash: &'a str,
    pub created_at: Ts,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChangeset {
    pub full_name: Option<String>,
    pub bio: Option<String>,
    pub password_hash: Option<String>,
    pub avatar_key: Option<Option<String>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = tokens)]
pub struct NewTokenRow {
    pub hash: Vec<u8>,
    pub user_id: i64,
    pub created_at: Ts,
    pub last_used_at: Ts,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = follows)]
pub struct NewFollowRow {
    pub follower_id: i64,
    pub leader_id: i64,
    pub created_at: Ts,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = likes)]
pub struct NewLikeRow {
    pub user_id: i64,
    pub post_id: i64,
    pub created_at: Ts,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = posts, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct PostRow {
    pub id: i64,
    pub author_id: i64,
    pub image_key: String,
    pub thumbnail_key: String,
    pub width: i32,
    pub height: i32,
    pub caption: String,
    pub alt_text: String,
    pub likes_count: i64,
    pub comments_count: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub blurhash: Option<String>,
    pub dominant_color: Option<String>,
    pub picture_count: i16,
    pub medium_key: Option<String>,
}

impl PostRow {
    pub fn into_post(self, author: AuthorRow, liked_by_me: bool) -> Post {
        Post {
            id: PostId::new(self.id),
            author: author.into(),
            image_key: self.image_key,
            medium_key: self.medium_key,
            thumbnail_key: self.thumbnail_key,
            width: self.width,
            height: self.height,
            caption: self.caption,
            alt_text: self.alt_text,
            placeholder: self.blurhash.zip(self.dominant_color).map(
                |(blurhash, dominant_color)| Placeholder {
                    blurhash,
                    dominant_color,
                },
            ),
            more_pictures: Vec::new(),
            likes_count: self.likes_count,
            comments_count: self.comments_count,
            liked_by_me,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = posts)]
pub struct NewPostRow<'a> {
    pub author_id: i64,
    pub image_key: &'a str,
    pub thumbnail_key: &'a str,
    pub width: i32,
    pub height: i32,
    pub caption: &'a str,
    pub alt_text: &'a str,
    pub blurhash: &'a str,
    pub dominant_color: &'a str,
    pub picture_count: i16,
    pub medium_key: Option<&'a str>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A post's picture beyond its first, as stored and read.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = post_media, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct PostMediaRow {
    pub post_id: i64,
    pub position: i16,
    pub image_key: String,
    pub thumbnail_key: String,
    pub width: i32,
    pub height: i32,
    pub alt_text: String,
    pub blurhash: String,
    pub dominant_color: String,
    pub medium_key: Option<String>,
}

impl PostMediaRow {
    pub fn into_picture(self) -> Picture {
        Picture {
            image_key: self.image_key,
            medium_key: self.medium_key,
            thumbnail_key: self.thumbnail_key,
            width: self.width,
            height: self.height,
            alt_text: self.alt_text,
            placeholder: Placeholder {
                blurhash: self.blurhash,
                dominant_color: self.dominant_color,
            },
        }
    }

    /// The keys of its files (the WebP renditions' aside: they are found from these).
    pub fn keys(self) -> impl Iterator<Item = String> {
        [
            Some(self.image_key),
            self.medium_key,
            Some(self.thumbnail_key),
        ]
        .into_iter()
        .flatten()
    }
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = posts)]
pub struct PostTextChangeset {
    pub caption: Option<String>,
    pub alt_text: Option<String>,
    pub updated_at: Option<Ts>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = comments, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct CommentRow {
    pub id: i64,
    pub author_id: i64,
    pub post_id: i64,
    pub parent_id: Option<i64>,
    pub content: String,
    pub reply_count: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl CommentRow {
    pub fn into_comment(self, author: AuthorRow) -> Comment {
        Comment {
            id: CommentId::new(self.id),
            post_id: PostId::new(self.post_id),
            parent_id: self.parent_id.map(CommentId::new),
            author: author.into(),
            content: self.content,
            reply_count: self.reply_count,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = comments)]
pub struct NewCommentRow<'a> {
    pub author_id: i64,
    pub post_id: i64,
    pub parent_id: Option<i64>,
    pub content: &'a str,
    pub created_at: Ts,
    pub updated_at: Ts,
}

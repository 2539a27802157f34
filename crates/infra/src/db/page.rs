//! Keyset pages: where a page starts, and the shapes of its rows (users listed by an edge, posts
//! with their authors and the viewer's like).

use being_social_domain::model::{ListedUser, Post};
use being_social_domain::pagination::{Cursor, Page, PageRequest};

use super::models::{AuthorRow, PostRow, UserRow};
use super::schema::Ts;

/// The keyset position before every item of a newest-first list, or the page's cursor.
pub(crate) fn newest_first_start(after: Option<Cursor>) -> (Ts, i64) {
    after.map(storable).unwrap_or((Ts::latest(), i64::MAX))
}

/// The keyset position before every item of an oldest-first list, or the page's cursor.
pub(crate) fn oldest_first_start(after: Option<Cursor>) -> (Ts, i64) {
    after.map(storable).unwrap_or((Ts::earliest(), i64::MIN))
}

/// A cursor moved into the range both backends store and compare: a forged cursor far outside
/// it is read as its nearest end, which changes no answer (PostgreSQL would refuse it).
fn storable(cursor: Cursor) -> (Ts, i64) {
    let at = cursor.at.clamp(Ts::earliest().0, Ts::latest().0);
    (Ts::from(at), cursor.id)
}

/// A page of users listed by the time of the edge that lists them (follows, likes).
pub(crate) fn listed_page(rows: Vec<(Ts, UserRow)>, page: &PageRequest) -> Page<ListedUser> {
    let listed = rows
        .into_iter()
        .map(|(since, user)| ListedUser {
            user: user.into(),
            since: since.0,
            relationship: Default::default(),
        })
        .collect();
    Page::from_rows(listed, page, |l: &ListedUser| Cursor {
        at: l.since,
        id: l.user.id.get(),
    })
}

/// A post, its author and the viewer's like of it (`None`: not liked).
pub(crate) type PostWithLike = (PostRow, AuthorRow, Option<i64>);

pub(crate) fn into_posts(rows: Vec<PostWithLike>) -> Vec<Post> {
    rows.into_iter()
        .map(|(post, author, like)| post.into_post(author, like.is_some()))
        .collect()
}

pub(crate) fn post_cursor(post: &Post) -> Cursor {
    Cursor {
        at: post.created_at,
        id: post.id.get(),
    }
}

//! Builders, readers and assertions shared by the conformance tests.

use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::fixture::Store;
pub use being_social_domain::Resource;
use being_social_domain::model::{Comment, CommentId, Placeholder, Post, PostId, User, UserId};
use being_social_domain::pagination::{Cursor, Page, PageRequest};
use being_social_domain::ports::{
    AccountRepository, CommentRepository, NewComment, NewPicture, NewPost, NewUser, PostRepository,
};
use being_social_domain::values::{AltText, Caption, CommentContent, Email, FullName};
use being_social_domain::{DomainError, Result};
use being_social_infra::db::check::Scope;
use chrono::{DateTime, Utc};

pub fn new_user(email: &str, full_name: &str) -> NewUser {
    NewUser {
        email: Email::parse(email).expect("a valid email"),
        full_name: FullName::parse(full_name).expect("a valid name"),
        password_hash: format!("hash-of-{email}"),
    }
}

/// Creates `<name>@example.com`.
pub async fn user(db: &Store, name: &str) -> User {
    AccountRepository::create(
        db.database(),
        new_user(&format!("{name}@example.com"), name),
    )
    .await
    .expect("the user is created")
}

/// Creates `<prefix><i>@example.com` for i in 0..n, one after the other.
pub async fn users(db: &Store, prefix: &str, n: usize) -> Vec<User> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(user(db, &format!("{prefix}{i}")).await);
    }
    out
}

pub fn new_post(author: UserId, tag: &str) -> NewPost {
    NewPost {
        author,
        image_key: format!("image-{tag}.jpg"),
        medium_key: None,
        thumbnail_key: format!("thumb-{tag}.jpg"),
        width: 640,
        height: 480,
        caption: Caption::parse(&format!("caption {tag}")).expect("a caption"),
        alt_text: AltText::parse(&format!("alt {tag}")).expect("an alt text"),
        placeholder: Placeholder {
            blurhash: format!("LEHV6nWB2yk8pyo0adR*.7kC{tag}"),
            dominant_color: "#7a5c3e".into(),
        },
        more_pictures: Vec::new(),
    }
}

/// The `n`-th picture beyond the first of a post tagged `tag` (with a medium rendition when `n`
/// is odd).
pub fn new_picture(tag: &str, n: usize) -> NewPicture {
    NewPicture {
        image_key: format!("image-{tag}-{n}.jpg"),
        // Pictures no larger than their medium rendition have none.
        medium_key: (n % 2 == 1).then(|| format!("medium-{tag}-{n}.jpg")),
        thumbnail_key: format!("thumb-{tag}-{n}.jpg"),
        width: 100 + i32::try_from(n).expect("a small n"),
        height: 50,
        alt_text: AltText::parse(&format!("alt {tag} {n}")).expect("an alt text"),
        placeholder: Placeholder {
            blurhash: format!("LKO2?U%2Tw=w]~RBVZRi}};RPxuwH{n}"),
            dominant_color: "#102030".into(),
        },
    }
}

pub async fn post(db: &Store, author: UserId, tag: &str) -> Post {
    PostRepository::create(db.database(), new_post(author, tag))
        .await
        .expect("the post is created")
}

pub fn new_comment(
    post: PostId,
    parent: Option<CommentId>,
    author: UserId,
    content: &str,
) -> NewComment {
    NewComment {
        post_id: post,
        parent_id: parent,
        author,
        content: CommentContent::parse(content).expect("a comment"),
    }
}

pub async fn comment(
    db: &Store,
    post: PostId,
    parent: Option<CommentId>,
    author: UserId,
    content: &str,
) -> Comment {
    CommentRepository::create(db.database(), new_comment(post, parent, author, content))
        .await
        .expect("the comment is created")
}

/// The user as stored now.
pub async fn fresh_user(db: &Store, id: UserId) -> User {
    db.find_by_id(id)
        .await
        .expect("find_by_id")
        .unwrap_or_else(|| panic!("user {id} exists"))
}

/// The post as stored now, read anonymously.
pub async fn fresh_post(db: &Store, id: PostId) -> Post {
    db.get(id, None)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("post {id} exists"))
}

/// `(post_count, follower_count, following_count)` of the user now.
pub async fn user_counts(db: &Store, id: UserId) -> (i64, i64, i64) {
    let u = fresh_user(db, id).await;
    (u.post_count, u.follower_count, u.following_count)
}

/// `(likes_count, comments_count)` of the post now.
pub async fn post_counts(db: &Store, id: PostId) -> (i64, i64) {
    let p = fresh_post(db, id).await;
    (p.likes_count, p.comments_count)
}

/// Every counter equals the rows it counts.
pub async fn assert_no_drift(db: &Store) {
    let drift = db
        .counter_drift(Scope::Everything)
        .await
        .expect("counter_drift");
    assert!(drift.is_empty(), "counters drifted: {drift:?}");
}

/// A timestamp with nothing below the microsecond (what both backends store).
pub fn assert_micros(at: DateTime<Utc>) {
    assert_eq!(
        at.timestamp_subsec_nanos() % 1_000,
        0,
        "{at:?} has sub-microsecond digits"
    );
}

/// The current time truncated to the microsecond, for bounds around a write.
pub fn now_micros() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).expect("a representable time")
}

#[track_caller]
pub fn assert_not_found<T: Debug>(result: Result<T>, what: Resource) {
    match result {
        Err(DomainError::NotFound(w)) if w == what => {}
        other => panic!("expected NotFound({what:?}), got {other:?}"),
    }
}

/// Walks a paginated list from the start with pages of `limit`, returning every item in order.
/// Checks on the way that pages are never over the limit, that a page with a `next` cursor is full,
/// and that no cursor leads to an empty page (the last page must say `next: None` itself).
pub async fn walk<T, F, Fut>(limit: u32, fetch: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    walk_from(PageRequest::first(limit), fetch).await
}

/// [`walk`] from the given first request.
pub async fn walk_from<T, F, Fut>(first: PageRequest, mut fetch: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let limit = first.limit();
    let mut items = Vec::new();
    let mut request = first;
    for number in 0..10_000 {
        let page = fetch(request).await.expect("a page");
        assert!(
            page.items.len() <= limit as usize,
            "page {number} has {} items, over the limit {limit}",
            page.items.len()
        );
        if number > 0 {
            assert!(
                !page.items.is_empty(),
                "page {number} is empty: the page before it should have had next = None"
            );
        }
        match page.next {
            Some(cursor) => {
                assert_eq!(
                    page.items.len(),
                    limit as usize,
                    "page {number} has a next cursor but is not full"
                );
                items.extend(page.items);
                request = PageRequest::new(Some(limit), Some(cursor)).expect("a page request");
            }
            None => {
                items.extend(page.items);
                return items;
            }
        }
    }
    panic!("the list never ended");
}

/// A first request for a comment list given as a cursor before any comment (the Unix epoch)
/// instead of no cursor. Tests whose subject is not the cursor-less first page use it, because
/// that page fails on PostgreSQL (see `comments::first_page_of_comments_needs_no_cursor`).
pub fn comments_from_start(limit: u32) -> PageRequest {
    PageRequest::new(
        Some(limit),
        Some(Cursor {
            at: DateTime::<Utc>::UNIX_EPOCH,
            id: i64::MIN,
        }),
    )
    .expect("a page request")
}

/// Every comment under `parent` (top-level when `None`), oldest first.
pub async fn comments_under(db: &Store, post: PostId, parent: Option<CommentId>) -> Vec<Comment> {
    walk_from(comments_from_start(4), |page| db.list(post, parent, page)).await
}

/// The ids of the posts.
pub fn post_ids(posts: &[Post]) -> Vec<PostId> {
    posts.iter().map(|p| p.id).collect()
}

/// The ids of the comments.
pub fn comment_ids(comments: &[Comment]) -> Vec<CommentId> {
    comments.iter().map(|c| c.id).collect()
}

/// The limits lists are walked with: single items, small pages, and one page for everything.
pub const LIMITS: [u32; 5] = [1, 2, 3, 7, 100];

/// Errors that a race may legitimately produce. Anything else (`Internal`, `Unavailable`: a
/// deadlock, a serialization failure, "database is locked", an exhausted retry) is recorded.
#[derive(Clone, Default)]
pub struct RaceLog(Arc<Mutex<Vec<String>>>);

impl RaceLog {
    /// Returns the value if `result` is Ok; records the error unless `allowed` accepts it.
    pub fn check<T>(
        &self,
        what: &str,
        result: Result<T>,
        allowed: fn(&DomainError) -> bool,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                if !allowed(&err) {
                    self.0
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(format!("{what}: {err:?}"));
                }
                None
            }
        }
    }

    #[track_caller]
    pub fn assert_clean(&self) {
        let errors = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        assert!(
            errors.is_empty(),
            "{} undocumented errors, first ones: {:#?}",
            errors.len(),
            &errors[..errors.len().min(10)]
        );
    }
}

pub fn no_error(_: &DomainError) -> bool {
    false
}

pub fn post_not_found(err: &DomainError) -> bool {
    matches!(err, DomainError::NotFound(Resource::Post))
}

pub fn user_not_found(err: &DomainError) -> bool {
    matches!(err, DomainError::NotFound(Resource::User))
}

pub fn post_or_comment_not_found(err: &DomainError) -> bool {
    matches!(
        err,
        DomainError::NotFound(Resource::Post | Resource::Comment)
    )
}

/// What a write by or about an account that is being deleted may answer: the thing is gone.
/// (`Unauthenticated` is what a comment by a deleted author answers, `InvalidCredentials` what a
/// token insert for one answers; the ports document no other error for these cases.)
pub fn gone(err: &DomainError) -> bool {
    matches!(
        err,
        DomainError::NotFound(_) | DomainError::Unauthenticated | DomainError::InvalidCredentials
    )
}

/// An id no row has: a test's way to name a user, post or comment that does not exist.
pub trait Missing {
    fn missing(self) -> Self;
}

macro_rules! missing_id {
    ($($id:ident),*) => {$(
        impl Missing for $id {
            fn missing(self) -> Self {
                $id::new(self.get() + 1000)
            }
        }
    )*};
}
missing_id!(UserId, PostId, CommentId);

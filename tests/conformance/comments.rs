//! CommentRepository: comments and replies with their counters, ownership, the two lists, and
//! deletion of whole threads.

use being_social_domain::model::{Comment, CommentId, CommentOwnership, PostId, UserId};
use being_social_domain::pagination::PageRequest;
use being_social_domain::ports::{AccountRepository, CommentRepository, PostRepository};

use crate::fixture::Fixture;
use crate::support::*;

on_both_backends!(
    create_round_trips_every_field_and_counts,
    create_under_unknown_post_or_parent_is_not_found,
    ownership_names_both_authors,
    list_of_unknown_post_or_parent_is_not_found,
    lists_paginate_oldest_first,
    delete_of_a_leaf_reply_and_of_unknown_comments,
);

on_both_backends!(first_page_of_comments_needs_no_cursor);

on_both_backends!(delete_removes_the_whole_thread_and_corrects_counters);

on_both_backends!(reply_to_the_latest_deleted_comment_is_not_found);

on_both_backends!(threads_past_sqlites_parameter_limit_are_deleted_whole);

async fn create_round_trips_every_field_and_counts(fx: Fixture) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let x = user(db, "x").await;
    let p = post(db, author.id, "p").await;

    let before = now_micros();
    let top = CommentRepository::create(
        db.database(),
        new_comment(p.id, None, x.id, "  Hello there  "),
    )
    .await
    .unwrap();
    let after = now_micros();
    assert!(top.id > CommentId::new(0));
    assert_eq!(top.post_id, p.id);
    assert_eq!(top.parent_id, None);
    assert_eq!(top.author, x.summary());
    assert_eq!(top.content, "Hello there", "content as validated (trimmed)");
    assert_eq!(top.reply_count, 0);
    assert_micros(top.created_at);
    assert_eq!(top.updated_at, top.created_at);
    assert!(before <= top.created_at && top.created_at <= after);
    assert_eq!(post_counts(db, p.id).await, (0, 1));

    let reply = comment(db, p.id, Some(top.id), author.id, "Thanks").await;
    assert_eq!(reply.parent_id, Some(top.id));
    assert_eq!(reply.post_id, p.id);
    assert_eq!(reply.author, author.summary());
    assert_eq!(reply.reply_count, 0);
    let deeper = comment(db, p.id, Some(reply.id), x.id, "You're welcome").await;
    assert_eq!(deeper.parent_id, Some(reply.id));
    assert_eq!(post_counts(db, p.id).await, (0, 3));

    // Lists answer what creation answered, with the reply counts now.
    let tops = comments_under(db, p.id, None).await;
    assert_eq!(
        tops,
        vec![Comment {
            reply_count: 1,
            ..top.clone()
        }]
    );
    let replies = comments_under(db, p.id, Some(top.id)).await;
    assert_eq!(
        replies,
        vec![Comment {
            reply_count: 1,
            ..reply.clone()
        }]
    );
    let deepest = comments_under(db, p.id, Some(reply.id)).await;
    assert_eq!(deepest, vec![deeper.clone()]);
    assert!(comments_under(db, p.id, Some(deeper.id)).await.is_empty());

    // A second reply to the top comment.
    comment(db, p.id, Some(top.id), x.id, "Me too").await;
    let tops = comments_under(db, p.id, None).await;
    assert_eq!(tops[0].reply_count, 2);
    assert_eq!(post_counts(db, p.id).await, (0, 4));
    assert_no_drift(db).await;
}

async fn create_under_unknown_post_or_parent_is_not_found(fx: Fixture) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let p = post(db, author.id, "p").await;
    let q = post(db, author.id, "q").await;
    let gone = post(db, author.id, "gone").await;
    let on_p = comment(db, p.id, None, author.id, "on p").await;
    let on_q = comment(db, q.id, None, author.id, "on q").await;
    let deleted = comment(db, p.id, None, author.id, "deleted").await;
    let on_p2 = comment(db, p.id, None, author.id, "on p, later").await;
    CommentRepository::delete(db.database(), deleted.id)
        .await
        .unwrap();
    PostRepository::delete(db.database(), gone.id, author.id)
        .await
        .unwrap();

    let create = |post, parent| {
        CommentRepository::create(db.database(), new_comment(post, parent, author.id, "nope"))
    };
    assert_not_found(create(p.id.missing(), None).await, Resource::Post);
    assert_not_found(create(gone.id, None).await, Resource::Post);
    assert_not_found(create(p.id.missing(), Some(on_p.id)).await, Resource::Post);
    assert_not_found(
        create(p.id, Some(on_p.id.missing())).await,
        Resource::Comment,
    );
    assert_not_found(create(p.id, Some(deleted.id)).await, Resource::Comment);
    assert_not_found(create(p.id, Some(on_q.id)).await, Resource::Comment);
    assert_not_found(create(q.id, Some(on_p.id)).await, Resource::Comment);

    // Nothing was counted by the failures.
    assert_eq!(post_counts(db, p.id).await, (0, 2));
    assert_eq!(post_counts(db, q.id).await, (0, 1));
    let tops = comments_under(db, p.id, None).await;
    assert_eq!(
        tops.iter()
            .map(|c| (c.id, c.reply_count))
            .collect::<Vec<_>>(),
        vec![(on_p.id, 0), (on_p2.id, 0)]
    );
    assert_no_drift(db).await;
}

async fn ownership_names_both_authors(fx: Fixture) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let x = user(db, "x").await;
    let p = post(db, author.id, "p").await;
    let by_x = comment(db, p.id, None, x.id, "by x").await;
    let by_author = comment(db, p.id, Some(by_x.id), author.id, "by author").await;
    assert_eq!(
        db.ownership(by_x.id).await.unwrap(),
        Some(CommentOwnership {
            post_id: p.id,
            comment_author: x.id,
            post_author: author.id,
        })
    );
    assert_eq!(
        db.ownership(by_author.id).await.unwrap(),
        Some(CommentOwnership {
            post_id: p.id,
            comment_author: author.id,
            post_author: author.id,
        })
    );
    assert_eq!(db.ownership(by_author.id.missing()).await.unwrap(), None);
    CommentRepository::delete(db.database(), by_x.id)
        .await
        .unwrap();
    assert_eq!(db.ownership(by_x.id).await.unwrap(), None);
    assert_eq!(
        db.ownership(by_author.id).await.unwrap(),
        None,
        "went with its parent"
    );
}

async fn list_of_unknown_post_or_parent_is_not_found(fx: Fixture) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let p = post(db, author.id, "p").await;
    let q = post(db, author.id, "q").await;
    let on_p = comment(db, p.id, None, author.id, "on p").await;
    let on_q = comment(db, q.id, None, author.id, "on q").await;
    let page = || PageRequest::first(10);
    assert_not_found(db.list(p.id.missing(), None, page()).await, Resource::Post);
    assert_not_found(
        db.list(p.id.missing(), Some(on_p.id), page()).await,
        Resource::Post,
    );
    assert_not_found(
        db.list(p.id, Some(on_p.id.missing()), page()).await,
        Resource::Comment,
    );
    assert_not_found(
        db.list(p.id, Some(on_q.id), page()).await,
        Resource::Comment,
    );
    assert_not_found(
        db.list(q.id, Some(on_p.id), page()).await,
        Resource::Comment,
    );
    // The same with a cursor.
    let from = || comments_from_start(10);
    assert_not_found(db.list(p.id.missing(), None, from()).await, Resource::Post);
    assert_not_found(
        db.list(p.id, Some(on_q.id), from()).await,
        Resource::Comment,
    );
    // A deleted post and a deleted parent are unknown too.
    CommentRepository::delete(db.database(), on_p.id)
        .await
        .unwrap();
    assert_not_found(
        db.list(p.id, Some(on_p.id), page()).await,
        Resource::Comment,
    );
    PostRepository::delete(db.database(), q.id, author.id)
        .await
        .unwrap();
    assert_not_found(db.list(q.id, None, page()).await, Resource::Post);
}

async fn first_page_of_comments_needs_no_cursor(fx: Fixture) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let p = post(db, author.id, "p").await;
    // No comments yet: an empty last page.
    let empty = db.list(p.id, None, PageRequest::first(10)).await.unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none());
    let c1 = comment(db, p.id, None, author.id, "c1").await;
    let c2 = comment(db, p.id, None, author.id, "c2").await;
    let r1 = comment(db, p.id, Some(c1.id), author.id, "r1").await;
    let page = db.list(p.id, None, PageRequest::first(10)).await.unwrap();
    assert_eq!(comment_ids(&page.items), vec![c1.id, c2.id]);
    assert_eq!(page.next, None);
    let page = db
        .list(p.id, Some(c1.id), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(comment_ids(&page.items), vec![r1.id]);
    for limit in LIMITS {
        let all = walk(limit, |page| db.list(p.id, None, page)).await;
        assert_eq!(comment_ids(&all), vec![c1.id, c2.id], "limit {limit}");
    }
}

async fn reply_to_the_latest_deleted_comment_is_not_found(fx: Fixture) {
    // The parent is the newest comment of the database when it is deleted: its id must not come
    // back to life as the reply's own.
    let db = &fx.db;
    let author = user(db, "author").await;
    let p = post(db, author.id, "p").await;
    let c1 = comment(db, p.id, None, author.id, "c1").await;
    let c2 = comment(db, p.id, None, author.id, "c2").await;
    assert_eq!(
        CommentRepository::delete(db.database(), c2.id)
            .await
            .unwrap(),
        1
    );
    let reply = CommentRepository::create(
        db.database(),
        new_comment(p.id, Some(c2.id), author.id, "late"),
    );
    assert_not_found(reply.await, Resource::Comment);
    assert_eq!(post_counts(db, p.id).await, (0, 1));
    assert_eq!(
        comment_ids(&comments_under(db, p.id, None).await),
        vec![c1.id]
    );
    assert_no_drift(db).await;
}

/// Oldest first by (created_at, id).
#[track_caller]
fn assert_oldest_first(list: &[Comment]) {
    for c in list {
        assert_micros(c.created_at);
    }
    for pair in list.windows(2) {
        assert!(
            (pair[0].created_at, pair[0].id) < (pair[1].created_at, pair[1].id),
            "not oldest first"
        );
    }
}

async fn lists_paginate_oldest_first(fx: Fixture) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let x = user(db, "x").await;
    let p = post(db, author.id, "p").await;
    let q = post(db, author.id, "q").await;
    let mut tops = Vec::new();
    let mut replies = Vec::new();
    for i in 0..7 {
        tops.push(comment(db, p.id, None, x.id, &format!("top {i}")).await);
        comment(db, q.id, None, x.id, &format!("noise {i}")).await;
        if i > 0 && i < 6 {
            replies.push(comment(db, p.id, Some(tops[0].id), author.id, &format!("re {i}")).await);
        }
    }
    // A reply to a reply is not a reply to the top comment.
    comment(db, p.id, Some(replies[0].id), x.id, "nested").await;

    let expected_tops: Vec<_> = tops.iter().map(|c| c.id).collect();
    let expected_replies: Vec<_> = replies.iter().map(|c| c.id).collect();
    for limit in LIMITS {
        let listed = walk_from(comments_from_start(limit), |page| db.list(p.id, None, page)).await;
        assert_eq!(comment_ids(&listed), expected_tops, "limit {limit}");
        assert_oldest_first(&listed);
        assert!(listed.iter().all(|c| c.parent_id.is_none()));
        let listed = walk_from(comments_from_start(limit), |page| {
            db.list(p.id, Some(tops[0].id), page)
        })
        .await;
        assert_eq!(comment_ids(&listed), expected_replies, "limit {limit}");
        assert_oldest_first(&listed);
        assert!(listed.iter().all(|c| c.parent_id == Some(tops[0].id)));
    }
    // Items equal what creation answered, but for reply counts.
    let listed = comments_under(db, p.id, None).await;
    assert_eq!(listed.len(), tops.len());
    for (got, created) in listed.iter().zip(&tops) {
        let reply_count = if got.id == tops[0].id { 5 } else { 0 };
        assert_eq!(
            *got,
            Comment {
                reply_count,
                ..created.clone()
            }
        );
    }
    let listed = comments_under(db, p.id, Some(tops[0].id)).await;
    assert_eq!(listed.len(), replies.len());
    for (got, created) in listed.iter().zip(&replies) {
        let reply_count = if got.id == replies[0].id { 1 } else { 0 };
        assert_eq!(
            *got,
            Comment {
                reply_count,
                ..created.clone()
            }
        );
    }

    // Comments added during a walk come after the cursor (oldest first) and are read at the end.
    let mut seen = Vec::new();
    let mut request = comments_from_start(3);
    let mut added = Vec::new();
    loop {
        let page = db.list(p.id, None, request).await.unwrap();
        seen.extend(page.items.iter().map(|c| c.id));
        let Some(next) = page.next else { break };
        if added.len() < 2 {
            added.push(comment(db, p.id, None, x.id, "late").await.id);
        }
        request = PageRequest::new(Some(3), Some(next)).unwrap();
    }
    let mut expected = expected_tops.clone();
    expected.extend(&added);
    assert_eq!(seen, expected);
}

async fn delete_removes_the_whole_thread_and_corrects_counters(fx: Fixture) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let x = user(db, "x").await;
    let p = post(db, author.id, "p").await;
    // c1 ─┬─ r1 ─┬─ r11 ── r111
    //     │      └─ r12
    //     └─ r2
    // c2
    let c1 = comment(db, p.id, None, x.id, "c1").await;
    let r1 = comment(db, p.id, Some(c1.id), author.id, "r1").await;
    let r11 = comment(db, p.id, Some(r1.id), x.id, "r11").await;
    let r111 = comment(db, p.id, Some(r11.id), author.id, "r111").await;
    let r12 = comment(db, p.id, Some(r1.id), x.id, "r12").await;
    let r2 = comment(db, p.id, Some(c1.id), x.id, "r2").await;
    let c2 = comment(db, p.id, None, author.id, "c2").await;
    assert_eq!(post_counts(db, p.id).await, (0, 7));

    assert_eq!(
        CommentRepository::delete(db.database(), r1.id)
            .await
            .unwrap(),
        4,
        "r1, r11, r111, r12"
    );
    assert_eq!(post_counts(db, p.id).await, (0, 3));
    for gone in [r1.id, r11.id, r111.id, r12.id] {
        assert_eq!(db.ownership(gone).await.unwrap(), None, "comment {gone}");
    }
    let tops = comments_under(db, p.id, None).await;
    assert_eq!(
        tops.iter()
            .map(|c| (c.id, c.reply_count))
            .collect::<Vec<_>>(),
        vec![(c1.id, 1), (c2.id, 0)]
    );
    let replies = comments_under(db, p.id, Some(c1.id)).await;
    assert_eq!(comment_ids(&replies), vec![r2.id]);
    assert_no_drift(db).await;

    assert_eq!(
        CommentRepository::delete(db.database(), c1.id)
            .await
            .unwrap(),
        2,
        "c1 and r2"
    );
    assert_eq!(post_counts(db, p.id).await, (0, 1));
    assert_eq!(
        CommentRepository::delete(db.database(), c1.id)
            .await
            .unwrap(),
        0,
        "already gone"
    );
    assert_eq!(
        CommentRepository::delete(db.database(), r2.id)
            .await
            .unwrap(),
        0,
        "went with c1"
    );
    assert_eq!(post_counts(db, p.id).await, (0, 1));
    assert_eq!(
        comment_ids(&comments_under(db, p.id, None).await),
        vec![c2.id]
    );
    assert_no_drift(db).await;
}

async fn delete_of_a_leaf_reply_and_of_unknown_comments(fx: Fixture) {
    let db = &fx.db;
    let author = user(db, "author").await;
    let p = post(db, author.id, "p").await;
    let c = comment(db, p.id, None, author.id, "c").await;
    let r = comment(db, p.id, Some(c.id), author.id, "r").await;
    assert_eq!(
        CommentRepository::delete(db.database(), c.id.missing())
            .await
            .unwrap(),
        0
    );
    assert_eq!(post_counts(db, p.id).await, (0, 2));
    assert_eq!(
        CommentRepository::delete(db.database(), r.id)
            .await
            .unwrap(),
        1
    );
    assert_eq!(post_counts(db, p.id).await, (0, 1));
    assert_eq!(comments_under(db, p.id, None).await[0].reply_count, 0);
    assert_eq!(
        CommentRepository::delete(db.database(), c.id)
            .await
            .unwrap(),
        1
    );
    assert_eq!(post_counts(db, p.id).await, (0, 0));
    // A comment whose author's account is gone went with the account.
    let x = user(db, "x").await;
    let cx = comment(db, p.id, None, x.id, "by x").await;
    AccountRepository::delete(db.database(), x.id)
        .await
        .unwrap();
    assert_eq!(
        CommentRepository::delete(db.database(), cx.id)
            .await
            .unwrap(),
        0
    );
    assert_eq!(post_counts(db, p.id).await, (0, 0));
    assert_no_drift(db).await;
}

/// Adds `n` replies by `author` beneath `root` in one statement, with the counters they move.
async fn add_replies(fx: &Fixture, post: PostId, root: CommentId, author: UserId, n: u32) {
    fx.execute(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO comments (author_id, post_id, parent_id, content, created_at, updated_at) \
         SELECT {author}, {post}, {root}, 'r', c.created_at, c.updated_at \
         FROM n, comments c WHERE c.id = {root}; \
         UPDATE comments SET reply_count = reply_count + {n} WHERE id = {root}; \
         UPDATE posts SET comments_count = comments_count + {n} WHERE id = {post};"
    ))
    .await;
}

/// More ids than SQLite binds in one statement (32,766), both where a thread is deleted and where
/// an account takes its threads with it.
async fn threads_past_sqlites_parameter_limit_are_deleted_whole(fx: Fixture) {
    const REPLIES: u32 = 40_000;
    let db = &fx.db;
    let author = user(db, "author").await;
    let x = user(db, "x").await;
    let p = post(db, author.id, "p").await;
    let first = comment(db, p.id, None, author.id, "first").await;
    let second = comment(db, p.id, None, x.id, "second").await;
    add_replies(&fx, p.id, first.id, x.id, REPLIES).await;
    add_replies(&fx, p.id, second.id, x.id, REPLIES).await;
    assert_eq!(post_counts(db, p.id).await, (0, 2 * i64::from(REPLIES) + 2));
    assert_no_drift(db).await;

    let removed = CommentRepository::delete(db.database(), first.id)
        .await
        .unwrap();
    assert_eq!(removed, u64::from(REPLIES) + 1);
    assert_eq!(post_counts(db, p.id).await, (0, i64::from(REPLIES) + 1));

    // x wrote the second thread and every reply: the account takes them all.
    AccountRepository::delete(db.database(), x.id)
        .await
        .unwrap();
    assert_eq!(post_counts(db, p.id).await, (0, 0));
    assert_no_drift(db).await;
}

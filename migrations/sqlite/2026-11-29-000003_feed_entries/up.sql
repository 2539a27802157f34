-- The home feed, materialised: one row for every post a viewer's feed shows (the viewer's own
-- and those of everyone the viewer follows), kept in the transactions that post, follow,
-- unfollow and delete. See migrations/postgres for the reasoning.
CREATE TABLE feed_entries (
    viewer_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    PRIMARY KEY (viewer_id, created_at, post_id)
) WITHOUT ROWID;
CREATE INDEX feed_entries_post ON feed_entries (post_id);

INSERT INTO feed_entries (viewer_id, created_at, post_id)
SELECT author_id, created_at, id FROM posts
UNION ALL
SELECT f.follower_id, p.created_at, p.id FROM follows f JOIN posts p ON p.author_id = f.leader_id;

DROP INDEX posts_recent;

-- The home feed, materialised: one row for every post a viewer's feed shows, that is the viewer's
-- own posts and the posts of everyone the viewer follows.
--
-- Read from the posts themselves, a page of the feed of someone who follows a thousand people
-- meant gathering those thousand ids and walking the newest posts of everyone until a page of
-- theirs was found: about 0.4 ms of PostgreSQL's time a page however cheap each step, and the
-- benchmark's feed topped out near 1,700 pages a second on two cores. Here a page is one range of
-- this table's primary key, joined to the page's posts: the same cost on page 1 and page 500,
-- for a follower of ten people or of ten thousand.
--
-- The price is paid on writes (fan-out on write), each in the transaction that makes the change
-- and under the author's user row lock, so the feed never misses or repeats a post:
--   - a new post adds one row per follower of its author, and one for the author;
--   - a new follow adds a row for each of the leader's posts, an unfollow removes them;
--   - a deleted post takes its rows with it (the foreign key below), a deleted account its own
--     feed (explicitly: a foreign key on viewer_id would lock the viewer's user row for every row
--     written, on the hot path of every post).
-- An account with a million followers would make each of its posts a million-row insert; the
-- usual remedy, not built here, is to leave such authors out and merge their posts at read time.
--
-- The key is the page order itself, so a page is an index-only range scan; created_at is the
-- post's, copied so the scan needs no visit to posts.
CREATE TABLE feed_entries (
    viewer_id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    post_id bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    PRIMARY KEY (viewer_id, created_at, post_id)
);
-- For the cascade from posts, and for removing a leader's posts on unfollow.
CREATE INDEX feed_entries_post ON feed_entries (post_id);

INSERT INTO feed_entries (viewer_id, created_at, post_id)
SELECT author_id, created_at, id FROM posts
UNION ALL
SELECT f.follower_id, p.created_at, p.id FROM follows f JOIN posts p ON p.author_id = f.leader_id;

-- The feed no longer walks all posts in time order (see 000002), and nothing else does.
DROP INDEX posts_recent;

-- The feed at any graph size. Until now every write paid for the whole social graph inside its
-- transaction: a post was copied into every follower's feed (a million rows for a million
-- followers), a follow copied every post of the leader (100,000 rows for a prolific one), and a
-- feed grew with everything its viewer ever followed. Measured on this machine, a post by an
-- author with a million followers took 10.9 s and a follow of an author with 100,000 posts 1.4 s.
-- Four bounds replace "everything" (the settings are in docs/configuration.md, the reasoning in
-- docs/architecture.md, "The feed"):
--
-- 1. Hybrid fan-out. An author with more than `feed_push_limit` followers is *pulled*: their
--    posts are no longer copied into feeds, and a feed page merges them in at read time (an
--    index range of `posts_author_recent` per pulled followee). `users.pulled_until` says which
--    posts of an author are pulled: those created before it. NULL: none (the author was never
--    pulled); 9999-12-31: all (the author is pulled now); a time: the author was pulled and
--    is pushed again since then. Posts at or after it are pushed. The column changes only in a
--    post's transaction, under the author's row lock, so each post is exactly one of the two.
--    A post that is both materialised and pulled (an old post of an author pulled since) is
--    shown once: a page merges by (created_at, id).
ALTER TABLE users ADD COLUMN pulled_until timestamptz;
-- The few pulled authors, for the page's "which of my followees are pulled" (a probe of the
-- follows key per pulled author, or per followee, whichever the planner finds fewer).
CREATE INDEX users_pulled ON users (id) WHERE pulled_until IS NOT NULL;

-- 2. Bounded feeds and follows. A feed holds at most `feed_max_entries` rows, and a follow copies
--    at most `feed_follow_backfill` of the leader's newest pushed posts. Below its *horizon* a
--    feed is no longer complete, and a page there is read from the posts of the viewer's
--    followees (and the viewer's own) instead: the horizon is the (created_at, post_id) from
--    which on the materialised feed holds every pushed post it should (NULL: all of them).
--    `entries_at_most` bounds the feed's rows from above: every insert raises it, a trim sets it
--    to the truth. (Deleted posts take their entries with them by the foreign key without
--    lowering it, which is why it is a bound and not a count: keeping it exact would make the
--    deletion of a post write one row per follower.) When it passes the maximum, the feed is
--    trimmed to seven eighths of it, oldest first, and the horizon moves up to the oldest entry
--    kept.
CREATE TABLE feed_state (
    viewer_id bigint PRIMARY KEY,
    entries_at_most bigint NOT NULL DEFAULT 0,
    horizon_at timestamptz,
    horizon_id bigint
);
INSERT INTO feed_state (viewer_id, entries_at_most)
SELECT viewer_id, count(*) FROM feed_entries GROUP BY viewer_id;

-- An unfollow removes the leader's entries from one feed: with the author in the row, that is an
-- index range of at most `feed_max_entries` rows, instead of a join with all the leader's posts.
ALTER TABLE feed_entries ADD COLUMN author_id bigint;
UPDATE feed_entries e SET author_id = p.author_id FROM posts p WHERE p.id = e.post_id;
ALTER TABLE feed_entries ALTER COLUMN author_id SET NOT NULL;
CREATE INDEX feed_entries_author ON feed_entries (viewer_id, author_id);

-- 3. Large fan-outs leave the post's transaction. A post by an author with more followers than
--    `feed_inline_fanout` (but at most `feed_push_limit`) writes one row here, in its own
--    transaction; a worker in every server process claims rows with FOR UPDATE SKIP LOCKED and
--    copies the post into the followers' feeds, a chunk of followers per transaction, moving
--    `next_at`/`next_follower` (the position in `follows_leader_recent`) in the same
--    transaction, so that a crash or a restart resumes where the last commit left off and no
--    follower gets the post twice. No foreign key to posts: a deletion of the post must not wait
--    for this row's lock (the worker finds the post gone and drops the row).
CREATE TABLE feed_outbox (
    post_id bigint PRIMARY KEY,
    author_id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    next_at timestamptz,
    next_follower bigint
);

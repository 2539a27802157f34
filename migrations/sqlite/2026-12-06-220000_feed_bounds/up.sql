-- The feed at any graph size: pulled authors, bounded feeds and follows, the fan-out outbox.
-- See migrations/postgres for the reasoning. SQLite fans every post out in its own transaction
-- (the outbox table exists so that both backends share one schema).
ALTER TABLE users ADD COLUMN pulled_until INTEGER;
CREATE INDEX users_pulled ON users (id) WHERE pulled_until IS NOT NULL;

CREATE TABLE feed_state (
    viewer_id INTEGER PRIMARY KEY,
    entries_at_most INTEGER NOT NULL DEFAULT 0,
    horizon_at INTEGER,
    horizon_id INTEGER
);
INSERT INTO feed_state (viewer_id, entries_at_most)
SELECT viewer_id, count(*) FROM feed_entries GROUP BY viewer_id;

ALTER TABLE feed_entries ADD COLUMN author_id INTEGER NOT NULL DEFAULT 0;
UPDATE feed_entries SET author_id = (SELECT p.author_id FROM posts p WHERE p.id = feed_entries.post_id);
CREATE INDEX feed_entries_author ON feed_entries (viewer_id, author_id);

CREATE TABLE feed_outbox (
    post_id INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    next_at INTEGER,
    next_follower INTEGER
);

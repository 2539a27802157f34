-- Failed fan-outs wait before they are claimed again; see migrations/postgres. SQLite has no
-- worker (every post is fanned out in its transaction): the columns keep one schema for both.
ALTER TABLE feed_outbox ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_outbox ADD COLUMN retry_at INTEGER;

-- How a server process knows that what it remembers of a viewer's pulled followees is stale.
--
-- Every feed page needs the pulled authors its viewer follows (db/feed.rs). Read from the
-- database, that is a join of the viewer's follows with the pulled authors: a scan of all the
-- viewer's follows (up to `max_following`) on every page, also for the many viewers who follow no
-- pulled author; and PostgreSQL's generic plan, chosen for the average user who follows a few
-- accounts, probed `users` once per follow: 1,000 probes a page for the benchmark's reader.
-- A process now keeps each viewer's list in memory and reads it again only when one of two
-- numbers has moved since it was read:
-- - `users.follows_version`, raised by every change of the user's follows, in the statement that
--   moves their follow counters (so under the same row lock, in the same transaction);
-- - `pulled_epoch.epoch`, raised when an author becomes pulled for the first time, in the
--   transaction of the post that pulls them. `pulled_until` never goes back to NULL, so that is
--   the only way an author joins the pulled followees of people who did not change their follows.
-- A page reads both in its own statement, so it never uses a list older than its snapshot; a
-- list read between a change and its commit is kept under the numbers read before it, and read
-- again at the next page.
ALTER TABLE users ADD COLUMN follows_version bigint NOT NULL DEFAULT 0;

CREATE TABLE pulled_epoch (
    id integer PRIMARY KEY CHECK (id = 1),
    epoch bigint NOT NULL
);
INSERT INTO pulled_epoch (id, epoch) VALUES (1, 0);

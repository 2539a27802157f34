DROP TABLE feed_outbox;
DROP INDEX feed_entries_author;
ALTER TABLE feed_entries DROP COLUMN author_id;
DROP TABLE feed_state;
DROP INDEX users_pulled;
ALTER TABLE users DROP COLUMN pulled_until;

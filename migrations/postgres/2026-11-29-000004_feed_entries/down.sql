CREATE INDEX posts_recent ON posts (created_at DESC, id DESC) INCLUDE (author_id);
DROP TABLE feed_entries;

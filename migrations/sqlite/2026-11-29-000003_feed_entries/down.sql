CREATE INDEX posts_recent ON posts (created_at DESC, id DESC, author_id);
DROP TABLE feed_entries;

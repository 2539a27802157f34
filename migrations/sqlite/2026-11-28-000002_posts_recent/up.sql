-- All posts newest first, with the author: the feed's scan for people who follow many others.
-- See migrations/postgres for the reasoning.
CREATE INDEX posts_recent ON posts (created_at DESC, id DESC, author_id);

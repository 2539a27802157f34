ALTER TABLE post_media DROP COLUMN medium_key;
ALTER TABLE posts DROP COLUMN medium_key;

-- Each picture's 1080 px rendition (see migrations/postgres for the reasoning).
ALTER TABLE posts ADD COLUMN medium_key TEXT;
ALTER TABLE post_media ADD COLUMN medium_key TEXT;

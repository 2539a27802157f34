DROP TABLE post_media;
ALTER TABLE posts DROP COLUMN picture_count;

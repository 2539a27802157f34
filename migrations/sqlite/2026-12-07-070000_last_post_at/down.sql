ALTER TABLE users DROP COLUMN last_post_at;

ALTER TABLE users DROP COLUMN posts_version;

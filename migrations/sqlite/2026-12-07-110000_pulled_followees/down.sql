DROP TABLE pulled_epoch;
ALTER TABLE users DROP COLUMN follows_version;

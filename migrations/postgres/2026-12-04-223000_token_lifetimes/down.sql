DROP INDEX tokens_last_used_at;
DROP INDEX tokens_created_at;
ALTER TABLE tokens DROP COLUMN last_used_at;

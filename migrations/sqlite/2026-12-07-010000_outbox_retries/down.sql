ALTER TABLE feed_outbox DROP COLUMN retry_at;
ALTER TABLE feed_outbox DROP COLUMN failures;

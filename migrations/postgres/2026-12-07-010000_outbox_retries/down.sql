ALTER TABLE feed_outbox DROP COLUMN retry_at, DROP COLUMN failures;

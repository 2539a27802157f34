-- A fan-out that keeps failing must not hold up the ones behind it.
--
-- The feed worker claims the pending fan-out with the lowest post id (`FOR UPDATE SKIP LOCKED`).
-- A row whose delivery fails every time (a bug, a constraint added later, data the worker cannot
-- write) was claimed again a second later, forever, by every process: no later post reached
-- anyone's feed. Now a failed delivery puts its row back with `retry_at`, before which no worker
-- claims it (1 s after the first failure, doubling up to 5 minutes), and counts its `failures`
-- so an operator can find it (docs/operations.md). The posts behind it go on.
ALTER TABLE feed_outbox
    ADD COLUMN failures integer NOT NULL DEFAULT 0,
    ADD COLUMN retry_at timestamptz;

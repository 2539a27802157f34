-- Tokens expire: after an idle lifetime without use, and after an absolute lifetime whatever the
-- use (settings token_idle_lifetime and token_absolute_lifetime). The lifetimes are checked against
-- these timestamps at each request, not stored per token, so changing a setting applies to the
-- tokens already issued.
--
-- last_used_at is not written on every request: that would turn every authenticated read (the
-- feed, thousands a second) into a write. A request writes it only when the stored value is older
-- than a hundredth of the idle lifetime (at most an hour), so a token in constant use costs about
-- one UPDATE an hour, and idle expiry is early by at most that much.
--
-- Tokens issued before this migration count as used now: nobody is logged out by the upgrade for
-- being idle, since their real last use is unknown. Their absolute lifetime runs from created_at.
-- (The DEFAULT fills the existing rows without rewriting the table; it is dropped so that every
-- insert says when.)
ALTER TABLE tokens ADD COLUMN last_used_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE tokens ALTER COLUMN last_used_at DROP DEFAULT;

-- The server's periodic sweep deletes expired tokens in small batches (created_at or
-- last_used_at before a cut-off), so the table holds live sessions, not every login ever made. One
-- index per condition: the sweep's OR is a BitmapOr of two range scans, each starting at the
-- oldest rows, instead of a scan of the whole table.
CREATE INDEX tokens_created_at ON tokens (created_at);
CREATE INDEX tokens_last_used_at ON tokens (last_used_at);

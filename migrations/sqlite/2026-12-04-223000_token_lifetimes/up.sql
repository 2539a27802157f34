-- Tokens expire after an idle and an absolute lifetime; last_used_at is recorded at most once per
-- a hundredth of the idle lifetime (at most an hour), and the server's sweep deletes expired
-- tokens through the two indexes. See migrations/postgres for the reasoning.
--
-- SQLite only adds a NOT NULL column with a constant default; the UPDATE then marks the tokens
-- issued before this migration as used now (microseconds since the epoch, as every timestamp
-- here), so the upgrade logs nobody out for being idle. The default 0 is never used afterwards:
-- every insert sets the column.
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
UPDATE tokens SET last_used_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000;

CREATE INDEX tokens_created_at ON tokens (created_at);
CREATE INDEX tokens_last_used_at ON tokens (last_used_at);

-- Room on every page of the two tables whose rows hold counters.
--
-- A hot post takes a `likes_count + n` update per like batch, hundreds a second, and a popular
-- account a `follower_count + 1` per follow. When the page holding the row is full, PostgreSQL
-- writes the new row version to another page and adds an entry for it to every index of the
-- table (posts has three), although no indexed column changed. After a burst of likes the feed's
-- index then holds thousands of entries for the one hot post, each pointing at a dead version,
-- and every first page of every feed walks them (the benchmark saw page 1 fall from about 1,000 to
-- about 230 pages a second right after a like storm).
--
-- With 15 % of each page kept free, the new version fits on the same page: a heap-only (HOT)
-- update, with no index entry, whose dead predecessors the next reader of the page prunes.
--
-- Only pages written from now on keep the room; `VACUUM FULL posts, users` applies it to rows
-- written before this migration.
ALTER TABLE posts SET (fillfactor = 85);
ALTER TABLE users SET (fillfactor = 85);

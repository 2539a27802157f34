-- When each author last posted, so that a feed page skips the pulled authors with nothing new.
--
-- A page of a viewer who follows pulled authors (db/feed.rs) reads each one's posts between the
-- page's start and its floor: one index probe per pulled followee, every page, and for most of
-- them (an account with a million followers posts a few times a day) the probe finds nothing.
-- With `last_post_at` on the row the page reads anyway, an author whose last post is older
-- than the floor is skipped without touching `posts`.
--
-- It is an upper bound, not a mirror: every post of the author was created at or before it.
-- A new post raises it in the post's own transaction, in the same UPDATE that counts the post
-- (under the author's row lock), so no reader sees the post without it. A deleted post leaves it
-- where it was, which keeps the bound true and costs at most one probe that finds nothing.
-- NULL: the author never posted. `being-social check` verifies the bound and repairs it.
ALTER TABLE users ADD COLUMN last_post_at timestamptz;
UPDATE users SET last_post_at = newest.at
FROM (SELECT author_id, MAX(created_at) AS at FROM posts GROUP BY author_id) AS newest
WHERE newest.author_id = users.id;

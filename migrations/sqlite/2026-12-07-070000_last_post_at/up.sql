-- When each author last posted: an upper bound of their posts' times, which lets a feed page skip
-- the pulled authors with nothing new (see migrations/postgres for the reasoning).
ALTER TABLE users ADD COLUMN last_post_at INTEGER;
UPDATE users SET last_post_at = (SELECT MAX(created_at) FROM posts WHERE posts.author_id = users.id);

-- All posts newest first, with the author in the index itself.
--
-- The feed of someone who follows many people is cheapest read from here: walk the posts from the
-- cursor backwards and keep those whose author is followed. With F people followed out of N, a
-- page of L posts reads about L·N/F entries, against F·L for the per-author LATERAL join on
-- posts_author_recent, so the feed uses this index when F is large and the LATERAL join when it is
-- small (see the feed query in crates/infra/src/db/dialect.rs). INCLUDE (author_id) makes it an
-- index-only scan: the filter never visits the table.
CREATE INDEX posts_recent ON posts (created_at DESC, id DESC) INCLUDE (author_id);

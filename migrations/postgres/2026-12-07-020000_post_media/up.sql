-- Several pictures per post. The first picture stays in its post's row (image_key, thumbnail_key,
-- width, height, alt_text, blurhash, dominant_color), so that posts of one picture, nearly all
-- of them, cost no more to read or write than before, and every existing post is already right;
-- the second to tenth live here, by position (1 to 9).
--
-- `picture_count` says how many a post has: a page of posts reads this table (one query for the
-- whole page) only when one of its posts has more than one. A constant default only changes the
-- catalog in PostgreSQL: instant on a table of any size.
ALTER TABLE posts ADD COLUMN picture_count SMALLINT NOT NULL DEFAULT 1
    CONSTRAINT posts_picture_count_range CHECK (picture_count BETWEEN 1 AND 10);

CREATE TABLE post_media (
    post_id        BIGINT   NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    position       SMALLINT NOT NULL CONSTRAINT post_media_position_range CHECK (position BETWEEN 1 AND 9),
    image_key      TEXT     NOT NULL,
    thumbnail_key  TEXT     NOT NULL,
    width          INTEGER  NOT NULL,
    height         INTEGER  NOT NULL,
    alt_text       TEXT     NOT NULL DEFAULT '',
    blurhash       TEXT     NOT NULL,
    dominant_color TEXT     NOT NULL,
    PRIMARY KEY (post_id, position)
);

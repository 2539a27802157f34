-- Several pictures per post: the first stays in its post's row, the second to tenth live here
-- (see migrations/postgres for the reasoning).
ALTER TABLE posts ADD COLUMN picture_count INTEGER NOT NULL DEFAULT 1
    CHECK (picture_count BETWEEN 1 AND 10);

CREATE TABLE post_media (
    post_id        INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL CHECK (position BETWEEN 1 AND 9),
    image_key      TEXT    NOT NULL,
    thumbnail_key  TEXT    NOT NULL,
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    alt_text       TEXT    NOT NULL DEFAULT '',
    blurhash       TEXT    NOT NULL,
    dominant_color TEXT    NOT NULL,
    PRIMARY KEY (post_id, position)
) WITHOUT ROWID;

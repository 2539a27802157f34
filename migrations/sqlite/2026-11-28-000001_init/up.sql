-- Being Social, SQLite schema: the same tables, keys and checks as migrations/postgres, in
-- SQLite's dialect. Read the PostgreSQL migration for why each key and index exists.
--
-- Differences that matter:
-- - Timestamps are INTEGER microseconds since the Unix epoch (SQLite has no timestamp type;
--   integers compare exactly and index well).
-- - There are no row locks: every write runs in a `BEGIN IMMEDIATE` transaction, which takes the
--   database's single write lock up front, so writers queue (busy_timeout) instead of failing.
-- - Foreign keys are enforced only with `PRAGMA foreign_keys = ON`, set on every connection.
-- - Ids are AUTOINCREMENT: without it SQLite hands the id of the newest deleted row out again, and
--   a like or reply aimed at something just deleted would land on its successor.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    email           TEXT    NOT NULL,
    email_key       TEXT    NOT NULL,
    full_name       TEXT    NOT NULL,
    bio             TEXT    NOT NULL DEFAULT '',
    password_hash   TEXT    NOT NULL,
    avatar_key      TEXT,
    post_count      INTEGER NOT NULL DEFAULT 0 CHECK (post_count >= 0),
    follower_count  INTEGER NOT NULL DEFAULT 0 CHECK (follower_count >= 0),
    following_count INTEGER NOT NULL DEFAULT 0 CHECK (following_count >= 0),
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE tokens (
    hash       BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_user_id ON tokens (user_id);

CREATE TABLE follows (
    follower_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    leader_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (follower_id, leader_id),
    CHECK (follower_id <> leader_id)
) WITHOUT ROWID;
CREATE INDEX follows_leader_recent ON follows (leader_id, created_at DESC, follower_id DESC);
CREATE INDEX follows_follower_recent ON follows (follower_id, created_at DESC, leader_id DESC);

CREATE TABLE posts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    image_key      TEXT    NOT NULL,
    thumbnail_key  TEXT    NOT NULL,
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    caption        TEXT    NOT NULL DEFAULT '',
    alt_text       TEXT    NOT NULL DEFAULT '',
    likes_count    INTEGER NOT NULL DEFAULT 0 CHECK (likes_count >= 0),
    comments_count INTEGER NOT NULL DEFAULT 0 CHECK (comments_count >= 0),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX posts_author_recent ON posts (author_id, created_at DESC, id DESC);

CREATE TABLE likes (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    post_id    INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (post_id, user_id)
) WITHOUT ROWID;
CREATE INDEX likes_post_recent ON likes (post_id, created_at DESC, user_id DESC);
CREATE INDEX likes_user_post ON likes (user_id, post_id);

CREATE TABLE comments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    post_id     INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    parent_id   INTEGER,
    content     TEXT    NOT NULL,
    reply_count INTEGER NOT NULL DEFAULT 0 CHECK (reply_count >= 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (post_id, id),
    FOREIGN KEY (post_id, parent_id) REFERENCES comments (post_id, id) ON DELETE CASCADE
);
CREATE INDEX comments_thread ON comments (post_id, parent_id, created_at, id);
CREATE INDEX comments_author ON comments (author_id);

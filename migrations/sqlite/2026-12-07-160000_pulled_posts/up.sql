-- How a server process knows that what it remembers of a pulled author's posts is stale (see
-- migrations/postgres for the reasoning).
ALTER TABLE users ADD COLUMN posts_version INTEGER NOT NULL DEFAULT 0;

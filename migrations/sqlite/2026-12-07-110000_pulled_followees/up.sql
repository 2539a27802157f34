-- How a server process knows that what it remembers of a viewer's pulled followees is stale (see
-- migrations/postgres for the reasoning; SQLite reads the list at every page, and keeps the
-- numbers so that both backends share one schema and one write path).
ALTER TABLE users ADD COLUMN follows_version INTEGER NOT NULL DEFAULT 0;

CREATE TABLE pulled_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL
);
INSERT INTO pulled_epoch (id, epoch) VALUES (1, 0);

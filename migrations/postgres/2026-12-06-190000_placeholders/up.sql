-- What a client draws before a post's picture arrives: its BlurHash (https://blurha.sh, a string
-- of 20-30 characters for the 4 x 3 components computed here) and its average colour as
-- `#rrggbb`. Both are computed from the thumbnail when the post is made (crates/images).
--
-- Posts made before this migration have neither: the columns are nullable rather than filled
-- in here, because filling them means decoding every stored thumbnail, work for a background
-- job, not for a migration that holds the table's lock. Clients already draw such posts
-- without a placeholder. Adding a nullable column without a default only changes the catalog
-- in PostgreSQL, so this is instant on a table of any size.
ALTER TABLE posts ADD COLUMN blurhash text, ADD COLUMN dominant_color text;

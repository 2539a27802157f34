ALTER TABLE posts DROP COLUMN blurhash;
ALTER TABLE posts DROP COLUMN dominant_color;

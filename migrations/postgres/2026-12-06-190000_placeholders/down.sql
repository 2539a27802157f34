ALTER TABLE posts DROP COLUMN blurhash, DROP COLUMN dominant_color;

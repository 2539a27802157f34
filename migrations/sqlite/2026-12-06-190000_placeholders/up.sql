-- A post's placeholder: its BlurHash and average colour (see migrations/postgres for the
-- reasoning). Nullable: posts made before this migration have none.
ALTER TABLE posts ADD COLUMN blurhash TEXT;
ALTER TABLE posts ADD COLUMN dominant_color TEXT;

-- Each picture's 1080 px rendition, between the 2048 px display image and the 320 px thumbnail.
-- NULL when the display image is no larger, and for pictures made before: the display image
-- serves then. (WebP renditions need no column: each is stored beside its JPEG or PNG under the
-- same name, see crates/domain's `sibling_key`.) Nullable without a default: instant.
ALTER TABLE posts ADD COLUMN medium_key TEXT;
ALTER TABLE post_media ADD COLUMN medium_key TEXT;

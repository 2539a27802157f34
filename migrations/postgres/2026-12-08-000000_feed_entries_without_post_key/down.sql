DELETE FROM feed_entries e WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = e.post_id);
ALTER TABLE feed_entries
    ADD CONSTRAINT feed_entries_post_id_fkey FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE;

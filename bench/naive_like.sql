-- pgbench: the naive like transaction, one like per transaction, all on one post.
-- Variables (pgbench -D): post, first, span, clients; n=0 (a per-client counter).
-- Each client likes as users first + (client_id + clients * n) % span, so no two transactions
-- use the same user (random() would collide, and the unconditional + 1 below would then drift the
-- counter); every transaction still takes the post's row lock until its commit, which is what
-- this scenario measures.
\set uid :first + (:client_id + :clients * :n) % :span
\set n :n + 1
BEGIN;
INSERT INTO likes (user_id, post_id, created_at) VALUES (:uid, :post, now()) ON CONFLICT DO NOTHING;
UPDATE posts SET likes_count = likes_count + 1 WHERE id = :post;
COMMIT;

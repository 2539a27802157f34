DROP INDEX posts_recent;

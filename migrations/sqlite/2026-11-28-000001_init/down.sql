DROP TABLE comments;
DROP TABLE likes;
DROP TABLE posts;
DROP TABLE follows;
DROP TABLE tokens;
DROP TABLE users;

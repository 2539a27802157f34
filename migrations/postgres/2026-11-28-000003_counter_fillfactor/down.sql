ALTER TABLE posts RESET (fillfactor);
ALTER TABLE users RESET (fillfactor);

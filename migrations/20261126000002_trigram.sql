-- Case-insensitive substring search over titles and descriptions (read model `content`).
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

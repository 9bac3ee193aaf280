-- The search read model's vectors and their HNSW index (pgvector), installed where every
-- projection's search_path finds it.
CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;

"""Shared vector memory: a Chroma store with local embeddings, ingestion and retrieval with citation keys."""

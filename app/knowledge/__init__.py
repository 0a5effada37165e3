"""The knowledge base: documents and FAQ entries, chunking, embeddings, hybrid search."""

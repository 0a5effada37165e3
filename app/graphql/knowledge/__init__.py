"""GraphQL for the knowledge base: documents, FAQ entries, settings and search."""

"""Answering: conversations, retrieval, prompt, generated or extractive answers with citations,
the answer cache, streaming and feedback."""

"""GraphQL for the assistant: asking, conversations, feedback and streamed answers."""

"""GraphQL for billing: usage (and, as billing grows, plans and subscriptions)."""

"""GraphQL for leads: capture (widget) and management (dashboard)."""

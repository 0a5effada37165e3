"""GraphQL for the widget: configuration (dashboard) and visitor sessions (widget)."""

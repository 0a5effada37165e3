"""The embeddable widget: its configuration per publishable key, visitor sessions, and the
static script it is served as."""

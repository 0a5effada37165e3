"""Security events that belong to no workspace: failed log-ins, refused cross-tenant attempts."""

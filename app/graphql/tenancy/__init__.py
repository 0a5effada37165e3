"""GraphQL for tenancy: accounts, workspaces, members, invitations, API keys, audit log."""

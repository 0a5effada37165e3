"""Tenancy: workspaces, users, memberships, invitations, API keys, authentication, audit."""

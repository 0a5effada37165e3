"""Workspaces, memberships with roles, and invitations."""

"""Accounts: users, passwords, log-in sessions and refresh tokens (global identity)."""

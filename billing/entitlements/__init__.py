"""Quotas: what a workspace's plan allows, checked where usage happens."""

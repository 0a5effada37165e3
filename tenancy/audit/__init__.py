"""The audit log of security-relevant actions per workspace."""

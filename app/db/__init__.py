"""Database infrastructure: engine, declarative base, tenant-scoped transactions."""

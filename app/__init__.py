"""Parley: a multi-tenant GraphQL backend for AI knowledge-base chat."""

__version__ = "0.1.0"

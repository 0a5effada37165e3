"""Workspace API keys: secret keys for servers, publishable keys for the widget."""

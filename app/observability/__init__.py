"""Operations: request context for logs, Prometheus metrics, Sentry error reporting."""

"""Per-tenant rate limits: GCRA buckets in Redis (one Lua call per decision, on Redis time), an
in-process fallback while Redis is unreachable, and a per-workspace cap on concurrent model
calls."""

"""A two-level cache for reads made on nearly every request and rarely changed.

    process LRU (CACHE_LOCAL_TTL_S) ─► Redis (CACHE_REDIS_TTL_S) ─► PostgreSQL (the truth)

`hub.py` holds the process's tiers and its pub/sub subscriber, `tiered.py` the look-up,
`commit.py` the invalidations that services register and that run only after COMMIT.
"""

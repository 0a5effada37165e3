"""Razorpay webhooks: verify, store in the ledger, enqueue, process idempotently."""

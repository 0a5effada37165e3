"""Reconciliation: fetch what Razorpay holds and converge, so a missed webhook heals."""

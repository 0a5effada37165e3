"""Subscriptions: exactly one current per workspace, free by default, synced from Razorpay."""

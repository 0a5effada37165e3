"""Billing: plans, subscriptions, Razorpay, webhooks, usage and quotas."""

"""Payments, invoices and top-up orders, recorded from Razorpay and Checkout."""

"""Every domain's models module, imported so `Base.metadata` knows all tables (Alembic, tests).

A new domain with tables adds its `models` module here.
"""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "tenancy.accounts.models",
    "tenancy.workspaces.models",
    "tenancy.apikeys.models",
    "tenancy.audit.models",
    "billing.usage.models",
    "app.widget.models",
    "app.leads.models",
    "tenancy.security_events.models",
    "billing.plans.models",
    "billing.subscriptions.models",
    "billing.payments.models",
    "billing.entitlements.models",
    "billing.webhooks.models",
    "billing.reconcile.models",
    "app.knowledge.models",
    "app.assistant.models",
    "app.outbox.models",
)

# Tables that hold no workspace data and so have no row-level security, besides the identity
# tables of the foundation (users, auth_sessions, refresh_tokens). Each entry is a decision:
# say in the migration why the table is global.
GLOBAL_TABLES: tuple[str, ...] = (
    # Failed log-ins have no workspace; refused cross-tenant attempts name the workspace they
    # aimed at as data, not as a tenant key (migration 0005).
    "security_events",
    # The plan catalogue and top-up packs are the same for everyone (migration 0004).
    "plans",
    "topup_packs",
    # Webhook events arrive before anyone knows their workspace: the ledger stores them, the
    # processing job maps them to a workspace through our own subscription/order rows.
    "razorpay_events",
    # Razorpay ids that reconciliation polls; the workspace is found through the same mapping.
    "razorpay_watchlist",
)


def import_all_models() -> None:
    """Import each domain's `models` module for its side effect of registering tables."""
    for module in MODEL_MODULES:
        importlib.import_module(module)

"""Billing: plan catalogue, subscriptions, orders, payments, invoices, quota credits and
reservations, the Razorpay webhook ledger and the reconciliation watchlist.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from app.config import get_settings
from app.db.rls import global_table_sql, tenant_table_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The only setting the provider-lookup policies read: a Razorpay id the caller already knows.
PROVIDER_REF = "(SELECT NULLIF(current_setting('app.provider_ref', true), ''))"

PLAN_TERMS = (
    "code",
    "version",
    "price_minor",
    "currency",
    "billing_period",
    "razorpay_plan_id",
    "conversations_per_month",
    "documents",
    "stored_bytes",
    "members",
    "publishable_keys",
    "api_requests_per_minute",
    "ai_tokens_per_month",
)

DDL = """
CREATE TABLE plans (
    id uuid PRIMARY KEY,
    code varchar(32) NOT NULL,
    version integer NOT NULL CONSTRAINT ck_plans_version CHECK (version > 0),
    name varchar(100) NOT NULL,
    description varchar(500) NOT NULL DEFAULT '',
    price_minor bigint NOT NULL CONSTRAINT ck_plans_price CHECK (price_minor >= 0),
    currency char(3) NOT NULL CONSTRAINT ck_plans_currency CHECK (currency ~ '^[A-Z]{3}$'),
    billing_period varchar(16) NOT NULL
        CONSTRAINT ck_plans_billing_period CHECK (billing_period IN ('monthly', 'yearly')),
    razorpay_plan_id varchar(64),
    available boolean NOT NULL DEFAULT true,
    sort_order integer NOT NULL DEFAULT 0,
    conversations_per_month bigint CONSTRAINT ck_plans_conversations CHECK (conversations_per_month >= 0),
    documents bigint CONSTRAINT ck_plans_documents CHECK (documents >= 0),
    stored_bytes bigint CONSTRAINT ck_plans_stored_bytes CHECK (stored_bytes >= 0),
    members integer CONSTRAINT ck_plans_members CHECK (members >= 1),
    publishable_keys integer CONSTRAINT ck_plans_publishable_keys CHECK (publishable_keys >= 0),
    api_requests_per_minute integer CONSTRAINT ck_plans_api_rpm CHECK (api_requests_per_minute >= 1),
    ai_tokens_per_month bigint CONSTRAINT ck_plans_ai_tokens CHECK (ai_tokens_per_month >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_plans_code_version UNIQUE (code, version),
    CONSTRAINT ck_plans_paid_needs_provider CHECK (price_minor = 0 OR razorpay_plan_id IS NOT NULL)
);
CREATE UNIQUE INDEX uq_plans_available_code ON plans (code) WHERE available;
CREATE INDEX ix_plans_razorpay_plan_id ON plans (razorpay_plan_id);

CREATE TABLE topup_packs (
    id uuid PRIMARY KEY,
    code varchar(32) NOT NULL CONSTRAINT uq_topup_packs_code UNIQUE,
    name varchar(100) NOT NULL,
    price_minor bigint NOT NULL CONSTRAINT ck_topup_packs_price CHECK (price_minor > 0),
    currency char(3) NOT NULL CONSTRAINT ck_topup_packs_currency CHECK (currency ~ '^[A-Z]{3}$'),
    ai_tokens bigint NOT NULL DEFAULT 0 CONSTRAINT ck_topup_packs_ai_tokens CHECK (ai_tokens >= 0),
    conversations bigint NOT NULL DEFAULT 0
        CONSTRAINT ck_topup_packs_conversations CHECK (conversations >= 0),
    available boolean NOT NULL DEFAULT true,
    sort_order integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    plan_id uuid NOT NULL REFERENCES plans (id),
    status varchar(16) NOT NULL CONSTRAINT ck_subscriptions_status CHECK (status IN (
        'created', 'authenticated', 'active', 'pending', 'halted', 'paused',
        'cancelled', 'completed', 'expired', 'replaced')),
    is_current boolean NOT NULL DEFAULT false,
    razorpay_subscription_id varchar(64),
    scheduled_plan_id uuid REFERENCES plans (id),
    scheduled_change_at timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    current_period_start timestamptz,
    current_period_end timestamptz,
    paid_count integer NOT NULL DEFAULT 0,
    past_due_since timestamptz,
    grace_ends_at timestamptz,
    provider_synced_at timestamptz,
    checkout_url varchar(300),
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    ended_at timestamptz,
    CONSTRAINT pk_subscriptions PRIMARY KEY (workspace_id, id),
    CONSTRAINT uq_subscriptions_workspace_id_razorpay_subscription_id
        UNIQUE (workspace_id, razorpay_subscription_id)
);
CREATE UNIQUE INDEX uq_subscriptions_current ON subscriptions (workspace_id) WHERE is_current;
CREATE INDEX ix_subscriptions_razorpay_subscription_id ON subscriptions (razorpay_subscription_id)
    WHERE razorpay_subscription_id IS NOT NULL;

CREATE TABLE billing_orders (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    razorpay_order_id varchar(64) NOT NULL,
    pack_id uuid NOT NULL REFERENCES topup_packs (id),
    amount_minor bigint NOT NULL CONSTRAINT ck_billing_orders_amount CHECK (amount_minor > 0),
    currency char(3) NOT NULL,
    ai_tokens bigint NOT NULL DEFAULT 0,
    conversations bigint NOT NULL DEFAULT 0,
    status varchar(16) NOT NULL
        CONSTRAINT ck_billing_orders_status CHECK (status IN ('created', 'attempted', 'paid')),
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    paid_at timestamptz,
    CONSTRAINT pk_billing_orders PRIMARY KEY (workspace_id, id),
    CONSTRAINT uq_billing_orders_workspace_id_razorpay_order_id UNIQUE (workspace_id, razorpay_order_id)
);
CREATE INDEX ix_billing_orders_razorpay_order_id ON billing_orders (razorpay_order_id);

CREATE TABLE billing_payments (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    razorpay_payment_id varchar(64) NOT NULL,
    razorpay_order_id varchar(64),
    razorpay_subscription_id varchar(64),
    razorpay_invoice_id varchar(64),
    amount_minor bigint,
    amount_refunded_minor bigint NOT NULL DEFAULT 0,
    currency char(3),
    status varchar(24) NOT NULL CONSTRAINT ck_billing_payments_status CHECK (status IN (
        'pending_confirmation', 'failed', 'authorized', 'captured', 'refunded')),
    method varchar(32),
    error_code varchar(64),
    error_description varchar(500),
    verified_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_billing_payments PRIMARY KEY (workspace_id, id),
    CONSTRAINT uq_billing_payments_workspace_id_razorpay_payment_id
        UNIQUE (workspace_id, razorpay_payment_id)
);
CREATE INDEX ix_billing_payments_razorpay_payment_id ON billing_payments (razorpay_payment_id);

CREATE TABLE billing_invoices (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    razorpay_invoice_id varchar(64) NOT NULL,
    razorpay_subscription_id varchar(64),
    razorpay_payment_id varchar(64),
    amount_minor bigint NOT NULL,
    amount_paid_minor bigint NOT NULL DEFAULT 0,
    currency char(3) NOT NULL,
    status varchar(16) NOT NULL CONSTRAINT ck_billing_invoices_status CHECK (status IN (
        'issued', 'partially_paid', 'paid', 'expired', 'cancelled')),
    billing_start timestamptz,
    billing_end timestamptz,
    issued_at timestamptz,
    paid_at timestamptz,
    short_url varchar(300),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_billing_invoices PRIMARY KEY (workspace_id, id),
    CONSTRAINT uq_billing_invoices_workspace_id_razorpay_invoice_id
        UNIQUE (workspace_id, razorpay_invoice_id)
);
CREATE INDEX ix_billing_invoices_razorpay_invoice_id ON billing_invoices (razorpay_invoice_id);

CREATE TABLE quota_credits (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    limit_name varchar(40) NOT NULL,
    period_start date NOT NULL,
    amount bigint NOT NULL,
    source_ref varchar(64) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_quota_credits PRIMARY KEY (workspace_id, id),
    CONSTRAINT uq_quota_credits_workspace_id_source_ref_limit_name
        UNIQUE (workspace_id, source_ref, limit_name)
);
CREATE INDEX ix_quota_credits_period ON quota_credits (workspace_id, period_start);

CREATE TABLE quota_reservations (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    metric varchar(40) NOT NULL,
    period_start date NOT NULL,
    amount bigint NOT NULL CONSTRAINT ck_quota_reservations_amount CHECK (amount > 0),
    status varchar(16) NOT NULL CONSTRAINT ck_quota_reservations_status
        CHECK (status IN ('held', 'committed', 'released')),
    used bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    settled_at timestamptz,
    CONSTRAINT pk_quota_reservations PRIMARY KEY (workspace_id, id)
);
CREATE INDEX ix_quota_reservations_held ON quota_reservations (workspace_id, expires_at)
    WHERE status = 'held';

CREATE TABLE razorpay_events (
    event_id varchar(64) PRIMARY KEY,
    event_type varchar(64) NOT NULL,
    body_sha256 bytea NOT NULL CONSTRAINT uq_razorpay_events_body_sha256 UNIQUE,
    payload jsonb NOT NULL,
    signed_with smallint NOT NULL,
    provider_created_at timestamptz,
    received_at timestamptz NOT NULL DEFAULT now(),
    status varchar(16) NOT NULL DEFAULT 'received' CONSTRAINT ck_razorpay_events_status
        CHECK (status IN ('received', 'processed', 'ignored', 'unmatched', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    processed_at timestamptz,
    outcome varchar(500)
);
CREATE INDEX ix_razorpay_events_open ON razorpay_events (status, received_at)
    WHERE status IN ('received', 'unmatched', 'failed');

CREATE TABLE razorpay_watchlist (
    razorpay_id varchar(64) PRIMARY KEY,
    kind varchar(16) NOT NULL
        CONSTRAINT ck_razorpay_watchlist_kind CHECK (kind IN ('subscription', 'order')),
    added_at timestamptz NOT NULL DEFAULT now(),
    next_check_at timestamptz NOT NULL DEFAULT now(),
    last_checked_at timestamptz,
    failures integer NOT NULL DEFAULT 0
);
CREATE INDEX ix_razorpay_watchlist_next_check_at ON razorpay_watchlist (next_check_at);

ALTER TABLE usage_counters
    ADD COLUMN reserved bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT ck_usage_counters_reserved CHECK (reserved >= 0)
"""

# Seeded catalogue (prices in paise). The Razorpay plan ids are placeholders to be replaced
# by publishing a new version with the real ids (`parley billing publish-plan`).
SEED = """
INSERT INTO plans (id, code, version, name, description, price_minor, currency, billing_period,
    razorpay_plan_id, sort_order, conversations_per_month, documents, stored_bytes, members,
    publishable_keys, api_requests_per_minute, ai_tokens_per_month)
VALUES
    (uuidv7(), 'free', 1, 'Free', 'Try Parley on a small knowledge base.', 0, 'INR', 'monthly',
     NULL, 0, 500, 50, 52428800, 5, 2, 120, 200000),
    (uuidv7(), 'starter', 1, 'Starter', 'For a small team answering its customers.', 149900,
     'INR', 'monthly', 'plan_PrlyStarter0001', 1, 5000, 1000, 2147483648, 10, 5, 600, 2000000),
    (uuidv7(), 'pro', 1, 'Pro', 'For busy sites and large knowledge bases.', 499900, 'INR',
     'monthly', 'plan_PrlyPro00000001', 2, 25000, 10000, 21474836480, 50, 20, 3000, 10000000);
INSERT INTO topup_packs (id, code, name, price_minor, currency, ai_tokens, conversations, sort_order)
VALUES
    (uuidv7(), 'ai_tokens_1m', '1M AI tokens this month', 49900, 'INR', 1000000, 0, 0),
    (uuidv7(), 'conversations_1k', '1,000 conversations this month', 29900, 'INR', 0, 1000, 1)
"""

IMMUTABLE_TERMS = """
CREATE FUNCTION plans_terms_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF ({new}) IS DISTINCT FROM ({old}) THEN
        RAISE EXCEPTION 'plan % version % was sold on these terms and cannot change; publish a new version',
            OLD.code, OLD.version USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    settings = get_settings().database
    app, owner = settings.app_role, settings.owner_role
    for statement in DDL.split(";\n"):
        if statement.strip():
            op.execute(statement)

    # What a workspace bought must never change under it: terms are frozen once inserted.
    op.execute(
        IMMUTABLE_TERMS.format(
            new=", ".join(f"NEW.{c}" for c in PLAN_TERMS),
            old=", ".join(f"OLD.{c}" for c in PLAN_TERMS),
        )
    )
    op.execute(
        "CREATE TRIGGER plans_immutable_terms BEFORE UPDATE ON plans "
        "FOR EACH ROW EXECUTE FUNCTION plans_terms_are_immutable()"
    )
    for statement in SEED.split(";\n"):
        op.execute(statement)

    # The catalogue is read-only to the application; operators publish versions as owner.
    op.execute(f"GRANT SELECT ON plans TO {app}")
    op.execute(f"GRANT SELECT ON topup_packs TO {app}")
    for table in ("razorpay_events", "razorpay_watchlist"):
        for sql in global_table_sql(table, app):
            op.execute(sql)

    tenant_tables = {
        "subscriptions": "razorpay_subscription_id",
        "billing_orders": "razorpay_order_id",
        "billing_payments": "razorpay_payment_id",
        "billing_invoices": "razorpay_invoice_id",
        "quota_credits": None,
        "quota_reservations": None,
    }
    for table, provider_column in tenant_tables.items():
        for sql in tenant_table_sql(table, app):
            op.execute(sql)
        if provider_column:
            # Webhooks name a Razorpay id, not a workspace. This policy lets a transaction
            # that already knows the exact id (set in app.provider_ref) read that row to learn
            # its workspace, and nothing else: no id, no rows.
            op.execute(
                f"CREATE POLICY provider_lookup ON {table} FOR SELECT TO {app} "
                f"USING ({provider_column} = {PROVIDER_REF})"
            )

    # Every existing workspace starts on the current free plan. The owner role is subject to
    # FORCE ROW LEVEL SECURITY too, so the backfill gets a policy of its own for the moment.
    op.execute(f"CREATE POLICY billing_backfill ON workspaces FOR SELECT TO {owner} USING (true)")
    op.execute(
        f"CREATE POLICY billing_backfill ON subscriptions TO {owner} USING (true) WITH CHECK (true)"
    )
    op.execute(
        """
        INSERT INTO subscriptions (workspace_id, id, plan_id, status, is_current, activated_at)
        SELECT w.id, uuidv7(), p.id, 'active', true, now()
        FROM workspaces w
        CROSS JOIN (SELECT id FROM plans WHERE code = 'free' AND available) p
        WHERE NOT EXISTS (
            SELECT 1 FROM subscriptions s WHERE s.workspace_id = w.id AND s.is_current)
        """
    )
    op.execute("DROP POLICY billing_backfill ON subscriptions")
    op.execute("DROP POLICY billing_backfill ON workspaces")


def downgrade() -> None:
    op.execute(
        "ALTER TABLE usage_counters DROP CONSTRAINT IF EXISTS ck_usage_counters_reserved, "
        "DROP COLUMN IF EXISTS reserved"
    )
    for table in (
        "razorpay_watchlist",
        "razorpay_events",
        "quota_reservations",
        "quota_credits",
        "billing_invoices",
        "billing_payments",
        "billing_orders",
        "subscriptions",
        "topup_packs",
        "plans",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP FUNCTION IF EXISTS plans_terms_are_immutable()")

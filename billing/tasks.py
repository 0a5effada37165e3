"""Every arq job and cron of the billing domain, for app/worker.py."""

from __future__ import annotations

from typing import Any

from billing.reconcile import tasks as reconcile_tasks
from billing.webhooks import tasks as webhook_tasks

FUNCTIONS: list[Any] = [*webhook_tasks.FUNCTIONS, *reconcile_tasks.FUNCTIONS]
CRON_JOBS: list[Any] = [*webhook_tasks.CRON_JOBS, *reconcile_tasks.CRON_JOBS]

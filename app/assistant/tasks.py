"""arq jobs of the assistant; answers run on the interactive queue.

A provider failure that may pass (429, 5xx, timeouts) is retried by arq after a short delay
(a visitor is waiting, so the delays are seconds, not minutes); the last try stores a
failed answer with an apology and the reason, so no subscriber waits forever.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from arq import Retry
from arq.worker import func

from app.assistant import answer
from app.errors import QuotaExceeded, RateLimited, Unavailable
from app.openai_api import ProviderError
from app.state import AppState

log = logging.getLogger(__name__)

ANSWER_TRIES = 3


async def answer_question(ctx: dict[str, Any], workspace_id: str, message_id: str) -> str:
    """Answer one question (the pending assistant message `message_id`)."""
    state: AppState = ctx["state"]
    ws, message = uuid.UUID(workspace_id), uuid.UUID(message_id)
    job_try = int(ctx.get("job_try", 1))
    # Inside arq's own timeout, so an answer that takes too long (a model endpoint that
    # trickles) is stored as failed with a reason instead of being dropped by arq mid-stream.
    budget_s = state.settings.worker.interactive_job_timeout_s * 0.9
    try:
        async with asyncio.timeout(budget_s):
            return await answer.answer(state, ws, message, retried=job_try > 1)
    except TimeoutError:
        log.warning("answer %s took longer than %.0f s; giving up", message_id, budget_s)
        await answer.fail(state, ws, message, f"The answer took longer than {budget_s:.0f} s.")
        return "timeout"
    except ProviderError as exc:
        if exc.retryable and job_try < ANSWER_TRIES:
            log.warning("answer try %d failed, retrying: %s", job_try, exc)
            raise Retry(defer=exc.retry_after or float(job_try)) from exc
        await answer.fail(state, ws, message, str(exc))
        return "failed"
    except QuotaExceeded as exc:
        # The plan's AI tokens are used up: the visitor is told, nothing is retried.
        await answer.fail(state, ws, message, exc.message)
        return "quota"
    except (RateLimited, Unavailable) as exc:
        # All of the workspace's model-call slots are busy (or the limiter is down): wait.
        if job_try < ANSWER_TRIES:
            raise Retry(defer=float(exc.extensions.get("retryAfter", job_try))) from exc
        await answer.fail(state, ws, message, exc.message)
        return "failed"


FUNCTIONS: list[Any] = [func(answer_question, name="answer_question", max_tries=ANSWER_TRIES)]
CRON_JOBS: list[Any] = []

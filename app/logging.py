"""Logging set-up: plain text for developers, JSON lines in production.

Every record gets the identifiers of the request or job it belongs to (request id, trace id,
workspace, GraphQL operation, job) from `app.observability.context`, so one request can be
followed across lines and processes. Secrets never reach the output: fields with sensitive
names are replaced, and anything that looks like a credential (bearer tokens, Parley keys,
refresh and invitation tokens, JWTs) is masked inside messages and values.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from app.config import Settings
from app.observability import context as request_context

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_CONTEXT_FIELDS = (
    "request_id",
    "trace_id",
    "workspace_id",
    "operation",
    "job_id",
    "job_function",
)
REDACTED = "[redacted]"
SENSITIVE_NAMES = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|signature|dsn|prompt|answer|"
    r"question|body|credential",
    re.IGNORECASE,
)
# Credentials Parley issues (sk_/pk_ keys, rt_ refresh and inv_ invitation tokens), JWTs and
# bearer headers. Matching them anywhere in text catches a secret interpolated by mistake.
SECRET_PATTERNS = re.compile(
    r"\b(?:sk|pk|inv)_[0-9a-f]{32}_[A-Za-z0-9_\-]{16,}"
    r"|\brt_[A-Za-z0-9_\-]{16,}"
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*"
)


def mask(text: str) -> str:
    """`text` with anything that looks like a credential replaced."""
    return SECRET_PATTERNS.sub(REDACTED, text)


def scrub(name: str, value: Any) -> Any:
    """A log field's value, or the redaction marker when its name or content is a secret."""
    if SENSITIVE_NAMES.search(name) and not isinstance(value, int | float | bool):
        return REDACTED
    if isinstance(value, str):
        return mask(value)
    return value


class ContextFilter(logging.Filter):
    """Adds the current request's or job's identifiers to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record (never drops it)."""
        current = request_context.current()
        values = current.log_fields() if current is not None else {}
        for name in _CONTEXT_FIELDS:
            if not hasattr(record, name) or getattr(record, name) is None:
                setattr(record, name, values.get(name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the record's context and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise a record."""
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or value is None:
                continue
            payload[key] = value if key in _CONTEXT_FIELDS else scrub(key, value)
        if record.exc_info:
            payload["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """Developer-friendly lines, with the request id and workspace when there are any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The classic line, masked, plus a short context suffix."""
        line = mask(super().format(record))
        parts = [
            f"{name}={value}"
            for name in ("request_id", "workspace_id", "operation", "job_function")
            if (value := getattr(record, name, None))
        ]
        return f"{line} [{' '.join(parts)}]" if parts else line


def configure_logging(settings: Settings) -> None:
    """Configure the root logger once per process."""
    root = logging.getLogger()
    if getattr(root, "_parley_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if settings.log_json else TextFormatter())
    root.handlers = [handler]
    root.setLevel(settings.log_level.upper())
    root._parley_configured = True  # type: ignore[attr-defined]

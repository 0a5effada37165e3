"""Load scenario: dashboard users and widget visitors across many workspaces.

    .venv/bin/pip install locust
    make run                                   # or any deployment
    .venv/bin/locust -f ops/load/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 60 -r 10 -t 3m

At start it creates LOAD_WORKSPACES workspaces (default 10), each with an owner, two documents
and a publishable key for LOAD_ORIGIN; then DashboardUser (1 in 4) reads documents,
conversations and usage as an owner, and WidgetVisitor (3 in 4) starts a widget session,
asks a question and polls the answer as the widget does without WebSockets. Refusals by the
rate limiter (HTTP 429) are counted as failures named "rate limited", so the report shows
how much of the offered load the plans' budgets turned away.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task

OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations"
ORIGIN = os.environ.get("LOAD_ORIGIN", "https://load.example")
WORKSPACES: list[dict[str, str]] = []
QUESTIONS = [
    "How long do refunds take?",
    "Do you ship abroad?",
    "When is the store open?",
    "Are returns free?",
]
DOCUMENTS = [
    "# Refunds\n\nRefunds reach your card within five business days. Returns are free within "
    "thirty days of delivery.",
    "# Shipping\n\nWe ship to forty countries. International delivery takes seven to twelve "
    "days; the store is open from ten to eight on weekdays.",
]


def op(name: str) -> str:
    """The text of a named operation from graphql/operations/."""
    return next(OPERATIONS.rglob(f"{name}.graphql")).read_text()


def _post(client: Any, name: str, variables: dict[str, Any], **headers: str) -> dict[str, Any]:
    reply = client.post(
        "/graphql", json={"query": op(name), "variables": variables}, headers=headers, timeout=60
    )
    body: dict[str, Any] = reply.json()
    if body.get("errors"):
        raise RuntimeError(f"{name}: {body['errors'][0].get('message')}")
    return body["data"]  # type: ignore[no-any-return]


@events.test_start.add_listener
def create_workspaces(environment: Any, **_: Any) -> None:
    """Create the workspaces the users spread over (once, before the users start)."""
    import logging

    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per setup call is noise
    count = int(os.environ.get("LOAD_WORKSPACES", "10"))
    with httpx.Client(base_url=environment.host) as client:
        for n in range(count):
            email = f"load-{secrets.token_hex(4)}@example.com"
            signed = _post(
                client,
                "SignUp",
                {"input": {"email": email, "password": "load test passphrase", "displayName": "L"}},
            )
            token = signed["signUp"]["accessToken"]
            auth = {"authorization": f"Bearer {token}"}
            created = _post(client, "CreateWorkspace", {"input": {"name": f"Load {n}"}}, **auth)
            scoped = {**auth, "x-workspace-id": created["createWorkspace"]["id"]}
            for content in DOCUMENTS:
                _post(
                    client,
                    "AddDocument",
                    {"input": {"content": content, "format": "MARKDOWN"}},
                    **scoped,
                )
            key = _post(
                client,
                "CreatePublishableKey",
                {"input": {"name": "load", "allowedOrigins": [ORIGIN]}},
                **scoped,
            )["createPublishableKey"]["key"]
            WORKSPACES.append(
                {"token": token, "workspace": created["createWorkspace"]["id"], "key": key}
            )


class GraphQLUser(HttpUser):
    """Shared plumbing: one GraphQL POST, named after its operation in the report."""

    abstract = True

    def graphql(
        self, path: str, name: str, variables: dict[str, Any], headers: dict[str, str]
    ) -> Any:
        """Send operation `name`; returns its data, or None when it failed."""
        with self.client.post(
            path,
            json={"query": op(name), "variables": variables},
            headers=headers,
            name=name,
            catch_response=True,
        ) as reply:
            if reply.status_code == 429:
                reply.failure("rate limited")
                return None
            body = reply.json() if reply.content else {}
            if reply.status_code != 200 or body.get("errors"):
                reply.failure(f"HTTP {reply.status_code}: {(body.get('errors') or [{}])[0]}")
                return None
            reply.success()
            return body["data"]


class DashboardUser(GraphQLUser):
    """A workspace owner browsing the dashboard."""

    weight = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        """Act for one of the workspaces."""
        chosen = random.choice(WORKSPACES)
        self.headers = {
            "authorization": f"Bearer {chosen['token']}",
            "x-workspace-id": chosen["workspace"],
        }

    @task(3)
    def documents(self) -> None:
        """The documents page."""
        self.graphql("/graphql", "Documents", {"first": 20}, self.headers)

    @task(1)
    def conversations(self) -> None:
        """The conversations page."""
        self.graphql("/graphql", "Conversations", {"first": 20}, self.headers)

    @task(1)
    def usage(self) -> None:
        """The usage panel."""
        self.graphql("/graphql", "Usage", {}, self.headers)


class WidgetVisitor(GraphQLUser):
    """A visitor on a customer's site asking the widget."""

    weight = 3
    wait_time = between(2, 6)

    def on_start(self) -> None:
        """Start a widget session with the site's publishable key."""
        chosen = random.choice(WORKSPACES)
        self.path = f"/widget/graphql?key={chosen['key']}"
        self.origin = {"origin": ORIGIN}
        data = self.graphql(
            self.path,
            "StartWidgetSession",
            {"input": None},
            {**self.origin, "authorization": f"Bearer {chosen['key']}"},
        )
        self.headers = {**self.origin}
        if data:
            self.headers["authorization"] = f"Bearer {data['startWidgetSession']['visitorToken']}"

    @task
    def ask(self) -> None:
        """Ask and poll until the answer is finished (at most 20 s)."""
        if "authorization" not in self.headers:
            return
        data = self.graphql(
            self.path,
            "WidgetAsk",
            {"input": {"question": random.choice(QUESTIONS)}},
            self.headers,
        )
        if not data:
            return
        message = data["ask"]["answer"]
        deadline = time.monotonic() + 20
        while message["status"] not in ("COMPLETE", "FAILED") and time.monotonic() < deadline:
            time.sleep(0.5)
            polled = self.graphql(self.path, "WidgetMessage", {"id": message["id"]}, self.headers)
            if not polled or not polled.get("message"):
                return
            message = polled["message"]

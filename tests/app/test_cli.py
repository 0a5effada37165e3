"""The `parley` command's admin verbs, run as a real process against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from tests.support.graphql import GraphQL
from tests.support.services import TestServices


def _parley(services: TestServices, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": services.app_url,
        "DATABASE_ADMIN_URL": services.admin_url,
        "REDIS_URL": services.redis_url,
        "AUTH_JWT_SECRET": "cli-secret-" + "z" * 40,
        "PARLEY_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_workspace_create_and_key(services: TestServices, gql: GraphQL) -> None:
    slug = "cli-" + uuid.uuid4().hex[:8]
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    created = _parley(
        services,
        "workspace",
        "create",
        "--name",
        "From CLI",
        "--slug",
        slug,
        "--owner-email",
        email,
        "--owner-password",
        "correct horse battery",
    )
    assert created.returncode == 0, created.stderr
    assert f"({slug})" in created.stdout
    key = _parley(services, "workspace", "create-key", "--slug", slug, "--role", "admin")
    assert key.returncode == 0, key.stderr
    secret = key.stdout.strip()
    workspace = (await gql.as_(secret).op("CurrentWorkspace")).data["workspace"]
    assert workspace["slug"] == slug and workspace["viewerRole"] == "ADMIN"
    assert [e["node"]["user"]["email"] for e in workspace["members"]["edges"]] == [email]

    missing = _parley(services, "workspace", "create-key", "--slug", "no-such-slug")
    assert missing.returncode != 0
    assert missing.stderr.strip() == "error: No workspace with slug 'no-such-slug'."

"""Real PostgreSQL + pgvector and real Redis for the test session."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.devstack.postgres import LocalPostgres
from app.devstack.redis import LocalRedis

DATABASE = "parley_test"


@dataclass
class TestServices:
    """The servers a test session talks to."""

    __test__ = False  # a fixture's value, not a test class

    pg: LocalPostgres
    redis_url: str
    redis: LocalRedis | None
    root: Path

    @property
    def admin_url(self) -> str:
        """Superuser URL of the test database."""
        return self.pg.url("postgres", DATABASE)

    @property
    def app_url(self) -> str:
        """Application-role URL of the test database."""
        return self.pg.url("parley_app", DATABASE)

    def stop(self) -> None:
        """Stop everything this session started and delete its files."""
        if self.redis is not None:
            self.redis.stop()
        self.pg.destroy()
        shutil.rmtree(self.root, ignore_errors=True)


def start_services() -> TestServices:
    """A fresh PostgreSQL cluster in a temporary directory and, unless PARLEY_TEST_REDIS_URL
    names one, a private redis-server on a free port (so nothing is shared with other runs)."""
    root = Path(tempfile.mkdtemp(prefix="parley-test-"))
    pg = LocalPostgres(
        root / "pg", conf={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    )
    pg.start()
    redis_url = os.environ.get("PARLEY_TEST_REDIS_URL")
    redis = None
    if not redis_url:
        redis = LocalRedis()
        redis.start()
        redis_url = redis.url
    return TestServices(pg=pg, redis_url=redis_url, redis=redis, root=root)

"""A small GraphQL client for tests, using the operation documents in graphql/operations/."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations"


@functools.cache
def operation(name: str) -> str:
    """The text of a named operation document (searched in every domain folder)."""
    matches = list(OPERATIONS.rglob(f"{name}.graphql"))
    if len(matches) != 1:
        raise LookupError(f"expected one operation named {name}, found {len(matches)}")
    return matches[0].read_text()


@dataclass
class Result:
    """A GraphQL response."""

    status: int
    body: dict[str, Any]
    headers: httpx.Headers

    @property
    def data(self) -> Any:
        """`data`, asserting there were no errors."""
        assert not self.body.get("errors"), self.body.get("errors")
        return self.body["data"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The errors (asserting there is at least one)."""
        errors = self.body.get("errors") or []
        assert errors, f"expected errors, got {self.body}"
        return errors

    @property
    def codes(self) -> list[str]:
        """The error codes."""
        return [e.get("extensions", {}).get("code") for e in self.errors]

    @property
    def code(self) -> str:
        """The single error code."""
        codes = self.codes
        assert len(codes) == 1, self.body
        return codes[0]


@dataclass
class GraphQL:
    """Calls /graphql with optional credentials."""

    http: httpx.AsyncClient
    token: str | None = None
    workspace: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def as_(self, token: str | None, workspace: str | None = None) -> GraphQL:
        """A client with other credentials."""
        return GraphQL(self.http, token, workspace, dict(self.headers))

    async def query(
        self,
        document: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        **extra_headers: str,
    ) -> Result:
        """Send a document."""
        headers = {**self.headers, **extra_headers}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        if self.workspace:
            headers["x-workspace-id"] = self.workspace
        payload: dict[str, Any] = {"query": document}
        if variables is not None:
            payload["variables"] = variables
        if operation_name:
            payload["operationName"] = operation_name
        response = await self.http.post("/graphql", json=payload, headers=headers)
        return Result(response.status_code, response.json(), response.headers)

    async def op(
        self, name: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> Result:
        """Run a named operation from graphql/operations/."""
        return await self.query(operation(name), variables, name, **headers)

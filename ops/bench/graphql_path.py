"""Throughput and latency of the dashboard's GraphQL path, end to end. Prints figures; asserts
nothing.

    .venv/bin/python ops/bench/graphql_path.py                       # op1 and op2, 15 s each
    .venv/bin/python ops/bench/graphql_path.py --rounds 4 --api /tmp/base --api .
    .venv/bin/python ops/bench/graphql_path.py --api . --api ".:DATABASE_POOL_SIZE=20"
    .venv/bin/python ops/bench/graphql_path.py --profile /tmp/api.svg  # py-spy on the API

Starts its own PostgreSQL 18 (embedded) and Redis in a temporary directory, migrates, starts
`python -m app.cli api` (RATELIMIT_ENABLED=false, pinned to CPU 0 with taskset when there is
one), signs a user up through the API, creates three workspaces and loads 1,000 documents of
10 chunks into each with bulk SQL. Then it drives, with 16 concurrent keep-alive connections
(httpx) after a warm-up, for `--seconds` each:

op1  `DocumentPage`: 20 documents with their author's name and pageInfo (the document
     `make bench` sends); every request is for one of the workspaces.
op2  `DocumentWithChunks`: a random seeded document, eight fields and its first 10 chunks.
op3  `RenameDocument`: a new title for a random seeded document (a mutation; not in the
     default `--ops`, always in `--calls` and `--instructions`).
op4  `RenameWorkspace`: a new name for the caller's workspace, a mutation through the ORM
     (an UPDATE, an audit row, the workspace read back; counted only, with --calls and
     --instructions).

It prints req/s, p50 and p99 and counts errors (non-200 answers and GraphQL errors). With
several `--api` one API process runs from each source tree (with its own extra environment,
same database) and the rounds alternate between them, so CPU taken by anything else on the
machine hits both alike. The API's CPU time per request is printed too, and with `--calls N`
the Python function calls per request (cProfile's count, in-process, one request at a time),
and with `--instructions N` the machine instructions per request (valgrind's callgrind, the
same in-process loop, counting only the N measured requests; repeat runs agree within 0.2 %):
figures other load on the machine cannot move, where this VM's CPU time per request drifts
by a third between runs.

    .venv/bin/python ops/bench/graphql_path.py --rounds 0 --instructions 100 --api /tmp/base --api .

The counts cover op0-op4 and, to subtract, `client` (httpx to an app that answers at once)
and `http` (`GET /health`). To look inside them: PARLEY_BENCH_PSTATS=PREFIX writes each
operation's cProfile statistics to PREFIX.<op> (with --calls), and
PARLEY_BENCH_KEEP_DUMPS=DIR keeps each callgrind dump as DIR/callgrind.<op> (with
--instructions; read it with callgrind_annotate).

With --calls it also prints the objects per request left in reference cycles (freed only by
Python's cycle collector, whose pauses they lengthen) and their commonest types;
PARLEY_BENCH_CYCLES=FILE appends each operation's cycles, grouped by the types they are
made of (ops/bench/cycles.py), to FILE. `client` and `http` show httpx's own.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from cycles import summary  # beside this script
from procstat import cpu_seconds, postgres_processes  # beside this script

ROOT = Path(__file__).resolve().parents[2]
# --calls runs this file inside another source tree (PARLEY_BENCH_ROOT) to count its calls.
sys.path.insert(0, os.environ.get("PARLEY_BENCH_ROOT") or str(ROOT))

from app.config import DatabaseSettings  # noqa: E402
from app.db.bootstrap import migrate  # noqa: E402
from app.db.ids import uuid7  # noqa: E402
from app.devstack.postgres import LocalPostgres  # noqa: E402
from app.devstack.redis import LocalRedis, free_port  # noqa: E402
from app.graphql.node import to_global_id  # noqa: E402

JWT = "bench-secret-" + "y" * 40
WORKSPACES = 3
DOCUMENTS = 1_000
CHUNKS = 10
DIMS = 384

# The dashboard's documents, as `make bench` sends them (ops/bench/graphql/operations.py).
OPERATIONS = ROOT / "graphql" / "operations" / "knowledge"
OP1 = (OPERATIONS / "DocumentPage.graphql").read_text()
OP2 = (OPERATIONS / "DocumentWithChunks.graphql").read_text()
OP3 = (OPERATIONS / "RenameDocument.graphql").read_text()
OP4 = (ROOT / "graphql" / "operations" / "tenancy" / "RenameWorkspace.graphql").read_text()
# The fixed cost of an authenticated request: the transaction, authentication and the
# pipeline with nothing to resolve (counted only, with --calls and --instructions).
OP0 = "query Typename { __typename }"
# What the in-process counts spend outside the API: httpx and its ASGI transport, against an
# app that answers at once ("client"); and the HTTP stack around a handler with nothing to do
# (`GET /health`, "http").
COUNTED = ("client", "http", "op0", "op1", "op2", "op3", "op4")
SIGN_UP = """mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken } }"""
CREATE_WORKSPACE = """mutation CreateWorkspace($input: CreateWorkspaceInput!) {
  createWorkspace(input: $input) { id }
}"""


def say(line: str = "") -> None:
    print(line, flush=True)


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Env:
    """PostgreSQL + Redis for the run."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="parley-gqlbench-"))
        self.pg = LocalPostgres(self.root / "pg", conf={"shared_buffers": "512MB"})
        self.redis = LocalRedis()

    def start(self) -> None:
        self.pg.start()
        self.redis.start()
        self.admin_url = self.pg.url("postgres", "parley_bench")
        self.app_url = self.pg.url("parley_app", "parley_bench")
        migrate(DatabaseSettings(url=self.app_url, admin_url=self.admin_url))

    def stop(self) -> None:
        self.redis.stop()
        if self.pg.initialised():
            self.pg.destroy()
        shutil.rmtree(self.root, ignore_errors=True)

    def process_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PARLEY_ENV": "test",
            "PARLEY_DATA_DIR": str(self.root / "data"),
            "DATABASE_URL": self.app_url,
            "DATABASE_ADMIN_URL": self.admin_url,
            "REDIS_URL": self.redis.url,
            "AUTH_JWT_SECRET": JWT,
            "AUTH_ACCESS_TOKEN_TTL_S": "86400",
            "AUTH_ARGON2_TIME_COST": "1",
            "AUTH_ARGON2_MEMORY_KIB": "8192",
            "RATELIMIT_ENABLED": "false",
            "PARLEY_LOG_LEVEL": "WARNING",
            "LOG_LEVEL": "WARNING",
        }


class Api:
    """`python -m app.cli api` from one source tree, pinned to CPU 0."""

    def __init__(self, env: Env, spec: str) -> None:
        path, _, extra = spec.partition(":")
        self.root = Path(path).resolve()
        self.extra = dict(pair.split("=", 1) for pair in extra.split())
        self.label = (self.root.name or str(self.root)) + (f" {extra}" if extra else "")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        log = (env.root / f"api-{self.port}.log").open("ab")
        command = [sys.executable, "-m", "app.cli", "api", "--port", str(self.port)]
        if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
            command = ["taskset", "-c", "0", *command]
        self.proc = subprocess.Popen(
            command,
            cwd=self.root,
            env={**env.process_env(), **self.extra},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.base) as client:
            for _ in range(300):
                try:
                    if (await client.get("/ready")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"API in {self.root} did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


async def call(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> Any:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body = orjson.loads(response.content)  # the stdlib decoder would weigh in --instructions
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{response.status_code}: {body}")
    return body["data"]


@dataclass
class Seed:
    token: str
    workspaces: list[str]  # global ids
    documents: dict[str, list[str]] = field(default_factory=dict)  # workspace -> global ids


async def seed(env: Env, api: Api) -> Seed:
    """A user with three workspaces through the API, then documents and chunks by bulk SQL."""
    async with httpx.AsyncClient(base_url=api.base, timeout=60) as client:
        signed = await call(
            client,
            SIGN_UP,
            {
                "input": {
                    "email": "bench@example.com",
                    "password": "bench password 1",
                    "displayName": "Bench",
                }
            },
            {},
        )
        token = signed["signUp"]["accessToken"]
        auth = {"authorization": f"Bearer {token}"}
        workspaces = [
            (await call(client, CREATE_WORKSPACE, {"input": {"name": f"Bench {n}"}}, auth))[
                "createWorkspace"
            ]["id"]
            for n in range(WORKSPACES)
        ]
    result = Seed(token, workspaces)
    conn = await asyncpg.connect(env.admin_url)
    try:
        # Chunks are never read here: the vector indexes only slow the load down.
        for index in await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_chunks_embedding_hnsw_%'"
        ):
            await conn.execute(f"DROP INDEX {index['indexname']}")
        vector = "[" + ",".join(["0.05"] * DIMS) + "]"
        # The signed-up user is every document's author (op1 reads its name).
        author = await conn.fetchval("SELECT id FROM users LIMIT 1")
        for ws_global in workspaces:
            ws = _uuid(ws_global)
            docs = [uuid7() for _ in range(DOCUMENTS)]
            await conn.copy_records_to_table(
                "documents",
                records=[
                    (
                        ws,
                        d,
                        "markdown",
                        f"Document {n}",
                        f"doc-{n}.md",
                        "text/markdown",
                        2048,
                        b"\x00",
                        "ready",
                        CHUNKS,
                        author,
                    )
                    for n, d in enumerate(docs)
                ],
                columns=[
                    "workspace_id",
                    "id",
                    "kind",
                    "title",
                    "filename",
                    "content_type",
                    "size_bytes",
                    "sha256",
                    "status",
                    "chunk_count",
                    "created_by",
                ],
            )
            # The chunks count only under the workspace's current embedding model (op2
            # reads its first page), which a workspace has once it has a knowledge base.
            await conn.execute(
                """
                INSERT INTO knowledge_bases (workspace_id, embedding_model, embedding_dims)
                VALUES ($1, 'all-MiniLM-L6-v2', $2) ON CONFLICT (workspace_id) DO NOTHING
                """,
                ws,
                DIMS,
            )
            await conn.execute(
                """
                INSERT INTO chunks (workspace_id, id, document_id, revision, position,
                    embedding_model, embedding_dims, heading_path, content, token_count, is_faq,
                    tsv, embedding)
                SELECT $1, gen_random_uuid(), d, 1, p,
                    (SELECT embedding_model FROM knowledge_bases WHERE workspace_id = $1),
                    $3, ARRAY['Heading'],
                    'Passage ' || p || ' of a synthetic document about kettles and toasters.',
                    12, false, to_tsvector('english', 'passage kettles toasters'), $4::vector
                FROM unnest($2::uuid[]) AS d, generate_series(0, $5 - 1) AS p
                """,
                ws,
                docs,
                DIMS,
                vector,
                CHUNKS,
            )
            result.documents[ws_global] = [str(to_global_id("Document", d)) for d in docs]
        await conn.execute("VACUUM ANALYZE documents")
        await conn.execute("VACUUM ANALYZE chunks")
    finally:
        await conn.close()
    return result


def _uuid(global_id: str) -> uuid.UUID:
    from app.graphql.node import from_global_id

    return from_global_id(global_id, expected="Workspace")[1]


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    api_cpu: float = 0.0
    pg_cpu: float = 0.0
    connections: int = 0


def operation(
    op: str, rng: random.Random, data: Seed
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The document, variables and headers of one request for `op`, for a random workspace."""
    ws = rng.choice(data.workspaces)
    headers = {"authorization": f"Bearer {data.token}", "x-workspace-id": ws}
    if op == "op0":
        return OP0, {}, headers
    if op == "op1":
        return OP1, {}, headers
    if op == "op4":
        return OP4, {"name": f"Bench {rng.randrange(10**6)}"}, headers
    document = rng.choice(data.documents[ws])
    if op == "op2":
        return OP2, {"id": document}, headers
    return OP3, {"id": document, "title": f"Renamed {rng.randrange(10**6)}"}, headers


async def drive(
    env: Env, api: Api, data: Seed, op: str, seconds: float, concurrency: int, warmup: float
) -> tuple[Run, float]:
    """`concurrency` workers sending `op` back to back; returns what was measured after the
    warm-up and the measured span in seconds."""
    rng = random.Random(7)  # noqa: S311 - load, not secrets
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + seconds
    run = Run()

    def request() -> tuple[str, dict[str, Any], dict[str, str]]:
        return operation(op, rng, data)

    async def worker() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=api.base, timeout=30, limits=limits) as client:
            while (now := time.perf_counter()) < stop_at:
                query, variables, headers = request()
                t0 = time.perf_counter()
                failed: str | None = None
                try:
                    response = await client.post(
                        "/graphql", json={"query": query, "variables": variables}, headers=headers
                    )
                    if response.status_code != 200:
                        failed = f"{response.status_code}: {response.text[:200]}"
                    elif b'"errors"' in response.content:
                        failed = response.text[:200]
                except httpx.HTTPError as exc:
                    failed = repr(exc)
                t1 = time.perf_counter()
                if now < measure_from:
                    continue
                if failed is not None:
                    run.errors += 1
                    run.first_error = run.first_error or failed
                else:
                    run.latencies.append(t1 - t0)

    async def meter() -> tuple[float, float, int]:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        api0, pg0 = cpu_seconds([api.proc.pid]), cpu_seconds(pg_pids, reaped=True)
        opened = await sessions_opened()
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        api_cpu, pg_cpu = (
            cpu_seconds([api.proc.pid]) - api0,
            cpu_seconds(pg_pids, reaped=True) - pg0,
        )
        # Connections the API opened meanwhile (-1: the one counting): pool churn shows here.
        return api_cpu, pg_cpu, await sessions_opened() - opened - 1

    async def sessions_opened() -> int:
        conn = await asyncpg.connect(env.admin_url)
        try:
            return int(
                await conn.fetchval(
                    "SELECT sessions FROM pg_stat_database WHERE datname = 'parley_bench'"
                )
            )
        finally:
            await conn.close()

    pg_pids = postgres_processes(env.pg.datadir)
    metered = asyncio.create_task(meter())
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.api_cpu, run.pg_cpu, run.connections = await metered
    return run, seconds


def report(label: str, op: str, run: Run, span: float, api_cpu: float, pg_cpu: float) -> str:
    """One line of figures. CPU per request is the least disturbed by other load on the
    machine: it counts only the time the API (and PostgreSQL) spent on the CPU."""
    n = len(run.latencies)
    if not n:
        return f"  {label:<12} {op}: no successful requests; errors {run.errors} {run.first_error}"
    line = (
        f"  {label:<12} {op}: {n / span:8.1f} req/s  p50 {pct(run.latencies, 50) * 1000:6.2f} ms"
        f"  p99 {pct(run.latencies, 99) * 1000:6.2f} ms  API CPU {api_cpu / n * 1000:5.2f} ms/req"
        f"  PG CPU {pg_cpu / n * 1000:5.2f} ms/req  {run.connections} new PG connections"
        f"  ({n} ok, {run.errors} errors)"
    )
    if run.first_error:
        line += f"\n    first error: {run.first_error}"
    return line


def profile(api: Api, out: str, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy recording the API process as collapsed stacks (py-spy must be installed in this
    interpreter's environment; it is a tool, not a dependency)."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(api.proc.pid), "--duration", str(int(seconds)),
         "--rate", "250", "--format", "raw", "--output", out, "--nonblocking"],
    )  # fmt: skip


async def count_calls(requests: int, data: dict[str, Any]) -> None:
    """In this process (the source tree on sys.path): the app served through ASGI, one
    request at a time; prints Python function calls per request (cProfile's count, the same
    whatever else the machine is doing) and CPU ms per request without the profiler."""
    import cProfile
    import pstats

    from app.config import get_settings
    from app.server import create_app, tune_gc
    from app.state import AppState

    settings = get_settings()
    state = await AppState.create(settings)
    seeded = Seed(data["token"], data["workspaces"], data["documents"])
    out: dict[str, Any] = {}
    try:
        app = create_app(settings, state)
        # As the API's lifespan does after start-up (it skips that for a state it does not
        # own, like this one), so the counts are the API's as it runs. Counts before
        # 2026-12-05 07:00 UTC were taken without it; instructions per request moved by
        # less than 0.5 % when it was added.
        tune_gc(settings.api.gc_gen0_threshold)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))  # type: ignore[arg-type]
        nothing = httpx.ASGITransport(app=_answer_at_once, client=("127.0.0.1", 50000))  # type: ignore[arg-type]
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
            httpx.AsyncClient(transport=nothing, base_url="http://bench") as bare,
        ):
            for op in COUNTED:
                rng = random.Random(3)  # noqa: S311 - load, not secrets
                to = bare if op == "client" else client

                async def one(
                    op: str = op, rng: random.Random = rng, to: httpx.AsyncClient = to
                ) -> None:
                    if op == "http":
                        (await to.get("/health")).raise_for_status()
                        return
                    await call(to, *operation("op0" if op == "client" else op, rng, seeded))

                for _ in range(100):
                    await one()
                if control := os.environ.get("PARLEY_BENCH_CALLGRIND"):
                    # Under callgrind (instructions_in): counted from "go" to "done" only.
                    await _handshake(Path(control), f"{op}-go")
                    for _ in range(requests):
                        await one()
                    await _handshake(Path(control), f"{op}-done")
                    continue
                cpu0 = time.process_time()
                for _ in range(requests):
                    await one()
                cpu = (time.process_time() - cpu0) / requests
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(requests):
                    await one()
                profiler.disable()
                if dump := os.environ.get("PARLEY_BENCH_PSTATS"):
                    profiler.dump_stats(f"{dump}.{op}")
                calls = pstats.Stats(profiler).total_calls / requests  # type: ignore[attr-defined]
                garbage = await cyclic_garbage(one, requests)
                out[op] = {"calls": calls, "cpu_ms": cpu * 1000, **garbage}
    finally:
        await state.close()
    print("CALLS " + json.dumps(out), flush=True)


async def cyclic_garbage(one: Any, requests: int) -> dict[str, Any]:
    """Objects per request that only the cycle collector can free (reference cycles), and
    their most common types: each of them is work for the collector's pauses."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(requests):
            await one()
        gc.collect()
    finally:
        gc.set_debug(0)
        gc.enable()
    garbage, gc.garbage[:] = list(gc.garbage), []
    if dump := os.environ.get("PARLEY_BENCH_CYCLES"):
        _append(Path(dump), summary(garbage))
    kinds = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in garbage)
    return {
        "garbage": len(garbage) / requests,
        "garbage_types": [(kind, n / requests) for kind, n in kinds.most_common(6)],
    }


def _append(path: Path, lines: list[str]) -> None:
    with path.open("a") as out:
        out.write("\n".join(lines) + "\n")


async def _answer_at_once(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that reads the request and answers `{"data": {}}`: what httpx costs."""
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b'{"data":{}}'})


async def _handshake(control: Path, step: str) -> None:
    """Tell the parent this step is reached and wait until it has acted on it."""
    print(f"STEP {step}", flush=True)
    while not (control / step).exists():  # noqa: ASYNC110 - the signal is a file
        await asyncio.sleep(0.02)


def _child_payload(data: Seed) -> str:
    """What a --calls-child reads on stdin: the seeded caller and documents."""
    return json.dumps(
        {"token": data.token, "workspaces": data.workspaces, "documents": data.documents}
    )


def _child_env(env: Env, api: Api, **extra: str) -> dict[str, str]:
    """A --calls-child's environment: the run's, `api`'s own, and its source tree."""
    return {**env.process_env(), **api.extra, "PARLEY_BENCH_ROOT": str(api.root), **extra}


def instructions_in(env: Env, api: Api, data: Seed, requests: int) -> dict[str, float]:
    """Machine instructions per request of `api`'s tree, in-process as `--calls` runs it,
    counted by valgrind's callgrind around the measured requests only (start-up and
    warm-up run uninstrumented): unlike CPU time, a figure the hypervisor cannot move."""
    control = Path(tempfile.mkdtemp(prefix="parley-cg-"))
    valgrind, callgrind_control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if valgrind is None or callgrind_control is None:
        raise RuntimeError("--instructions needs valgrind (Debian package valgrind)")
    child = subprocess.Popen(
        [valgrind, "--tool=callgrind", "--instr-atstart=no",
         f"--callgrind-out-file={control}/cg.out", sys.executable,
         str(Path(__file__).resolve()), "--calls-child", str(requests)],
        cwd=api.root,
        env=_child_env(env, api, PARLEY_BENCH_CALLGRIND=str(control)),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(_child_payload(data))
    child.stdin.close()
    out: dict[str, float] = {}

    def control_(*args: str) -> None:
        subprocess.run([callgrind_control, *args, str(child.pid)], check=True,
                       capture_output=True, timeout=600)  # fmt: skip

    try:
        for line in child.stdout:
            if not line.startswith("STEP "):
                continue
            step = line.split()[1]
            op, _, phase = step.partition("-")
            if phase == "go":
                control_("-i", "on")
                control_("-z")
            else:
                control_("-d")
                dumps = sorted(control.glob("cg.out.*"), key=lambda f: f.stat().st_mtime)
                out[op] = _instructions(dumps[-1]) / requests
                if keep := os.environ.get("PARLEY_BENCH_KEEP_DUMPS"):
                    shutil.copy(dumps[-1], Path(keep) / f"callgrind.{op}")
                control_("-i", "off")
            (control / step).touch()
        child.wait(600)
    finally:
        if child.poll() is None:
            child.kill()
        shutil.rmtree(control, ignore_errors=True)
    if not out:
        raise RuntimeError("the callgrind child reported nothing (is valgrind installed?)")
    return out


def _instructions(dump: Path) -> int:
    """The instruction count (Ir) a callgrind dump totals."""
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def calls_in(env: Env, api: Api, data: Seed, requests: int) -> dict[str, Any]:
    """Run count_calls in a child process inside `api`'s source tree."""
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--calls-child", str(requests)],
        cwd=api.root,
        env=_child_env(env, api),
        input=_child_payload(data),
        capture_output=True,
        text=True,
        check=False,
    )
    for line in child.stdout.splitlines():
        if line.startswith("CALLS "):
            result: dict[str, Any] = json.loads(line[6:])
            return result
    raise RuntimeError(f"--calls child failed: {child.stderr[-2000:]}")


async def count_first(args: argparse.Namespace, env: Env, apis: list[Api], data: Seed) -> None:
    """The in-process counts asked for (--instructions, --calls), each API in turn."""
    for api in apis if args.instructions else []:
        counted = await asyncio.to_thread(instructions_in, env, api, data, args.instructions)
        for op, per_request in counted.items():
            say(f"  {api.label:<22} {op}: {per_request / 1e6:8.3f} M instructions/req "
                "(callgrind, in-process, one at a time)")  # fmt: skip
    for api in apis if args.calls else []:
        calls = await asyncio.to_thread(calls_in, env, api, data, args.calls)
        for op, figures in calls.items():
            say(
                f"  {api.label:<22} {op}: {figures['calls']:8.0f} Python calls/req  "
                f"CPU {figures['cpu_ms']:5.2f} ms/req (in-process, one at a time)"
            )
            kinds = ", ".join(f"{kind} {n:.1f}" for kind, n in figures["garbage_types"])
            say(f"  {'':<22} {op}: {figures['garbage']:8.1f} objects/req in cycles ({kinds})")


async def main(args: argparse.Namespace) -> None:
    env = Env()
    apis: list[Api] = []
    try:
        await asyncio.to_thread(env.start)  # migrate() runs its own event loop
        apis = [Api(env, spec) for spec in (args.api or [str(ROOT)])]
        for api in apis:
            await api.ready()
        data = await seed(env, apis[0])
        say(
            f"seeded {WORKSPACES} workspaces x {DOCUMENTS} documents x {CHUNKS} chunks; "
            f"concurrency {args.concurrency}, {args.seconds:.0f} s per run after "
            f"{args.warmup:.0f} s warm-up; API pinned to CPU 0"
        )
        await count_first(args, env, apis, data)
        ops = [op for op in args.ops.split(",") if op]
        for round_no in range(args.rounds):
            say(f"round {round_no + 1}")
            order = apis if round_no % 2 == 0 else list(reversed(apis))
            for api in order:
                for op in ops:
                    spy = None
                    if args.profile and round_no == 0 and api is apis[-1]:
                        spy = profile(api, f"{args.profile}.{op}", args.warmup + args.seconds)
                    run, span = await drive(
                        env, api, data, op, args.seconds, args.concurrency, args.warmup
                    )
                    if spy is not None:
                        spy.wait(60)
                    say(report(api.label, op, run, span, run.api_cpu, run.pg_cpu))
    finally:
        for api in apis:
            api.stop()
        env.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--ops", default="op1,op2")
    parser.add_argument(
        "--api",
        action="append",
        help="an API to compare: SOURCE_TREE[:ENV=VALUE ...] (repeatable; default this tree)",
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=0,
        help="first count Python calls per request over this many requests per API",
    )
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        help="first count machine instructions per request (valgrind) over this many requests",
    )
    parser.add_argument("--calls-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile", default=None, help="py-spy output prefix (first round, collapsed stacks)"
    )
    arguments = parser.parse_args()
    if arguments.calls_child:
        # The event loop the API runs on (uvicorn picks uvloop when it is installed).
        import uvloop

        uvloop.install()
        asyncio.run(count_calls(arguments.calls_child, json.loads(sys.stdin.read())))
    else:
        asyncio.run(main(arguments))

# Two commands: `make run` (everything on embedded defaults) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit schema docs bench clean install

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned to the CPU build, so nothing can pull the multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c requirements.lock -e '.[local,dev]'
	touch $(STAMP)

# graphql-http's GraphQL-over-HTTP audits, run by tests/app/protect/test_processes.py.
AUDIT := tests/compliance/node_modules/.package-lock.json

$(AUDIT): tests/compliance/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/compliance --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the GraphQL-over-HTTP audit test will be skipped"; fi

# Debian's Chromium for the widget's browser test (Playwright drives it; no browser download).
BROWSER := /usr/bin/chromium

$(BROWSER):
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "could not install chromium: the widget browser test will fail under make test"

install: $(STAMP) $(AUDIT) $(BROWSER)

# make run API_WORKERS=2 WORKERS=3: several API processes (one port, Prometheus multi-process
# metrics) and several worker processes (metrics on 9100, 9101, ...).
API_WORKERS ?= 1
WORKERS ?= 1
run: $(STAMP)
	$(BIN)/parley dev --api-workers $(API_WORKERS) --workers $(WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check app tenancy billing tests migrations ops
	$(BIN)/ruff format --check app tenancy billing tests migrations ops

typecheck: $(STAMP)
	$(BIN)/mypy app tenancy billing

# PARLEY_REQUIRE_BROWSER: here a missing Chromium fails the browser test instead of skipping it.
unit: $(STAMP) $(AUDIT) $(BROWSER)
	PARLEY_REQUIRE_BROWSER=1 $(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck unit

schema: $(STAMP)
	$(BIN)/python -m app.graphql.export > graphql/schema.graphql

docs: schema
	$(BIN)/python -m app.configdoc --write README.md

# make bench: Parley side by side with PostGraphile 5 and a hand-written Litestar + asyncpg
# floor (ops/bench/graphql/run.py, ~10 minutes; BENCH_QUICK=1 for ~3). Rewrites its section of
# docs/BENCHMARKS.md and docs/benchmarks/graphql.png. BENCH_ALL=1 then also runs the older
# benchmarks of ops/bench (knowledge, rate limiter, webhooks), which only print.
PGL := ops/bench/graphql/postgraphile/node_modules/.package-lock.json
BENCH_STAMP := $(VENV)/.bench-installed

$(PGL): ops/bench/graphql/postgraphile/package-lock.json
	npm ci --prefix ops/bench/graphql/postgraphile --no-audit --no-fund --loglevel=error

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -c requirements.lock -e '.[local,dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) $(PGL)
	$(BIN)/python ops/bench/graphql/run.py --write $(BENCH_ARGS)
	@if [ -n "$(BENCH_ALL)" ]; then \
		$(BIN)/python ops/bench/ratelimit.py && \
		$(BIN)/python ops/bench/webhooks.py && \
		$(BIN)/python ops/bench/knowledge.py; fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

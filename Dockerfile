# syntax=docker/dockerfile:1.7
# One image for every role: `parley api` (default), `parley worker`, `parley migrate`.
#
#   docker build -t parley .                              # slim: OpenAI-compatible embeddings
#   docker build --build-arg EXTRAS=local -t parley .     # + local CPU embeddings (torch)
ARG PYTHON_VERSION=3.11

# --- build: a virtualenv with Parley and its pinned dependencies ---------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml requirements.lock README.md ./
RUN mkdir -p app tenancy billing \
    && if [ "$EXTRAS" = "local" ]; then \
         pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu; \
       fi \
    && pip install -c requirements.lock ".${EXTRAS:+[$EXTRAS]}" \
    && pip uninstall -y parley
COPY app ./app
COPY tenancy ./tenancy
COPY billing ./billing
COPY migrations ./migrations
# Editable install: the code stays in /app next to migrations/, which `parley migrate` reads.
RUN pip install --no-deps -e . && python -m compileall -q app tenancy billing migrations

# --- runtime: the virtualenv and the code, nothing else, as an unprivileged user -----------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 parley \
    && useradd --system --uid 10001 --gid parley --home-dir /app --shell /usr/sbin/nologin parley
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PARLEY_ENV=production \
    PARLEY_LOG_JSON=true \
    PARLEY_DATA_DIR=/tmp/parley \
    API_HOST=0.0.0.0 \
    API_PORT=8000 \
    METRICS_WORKER_HOST=0.0.0.0 \
    METRICS_WORKER_PORT=9100 \
    HEALTHCHECK_URL=http://127.0.0.1:8000/health
USER 10001:10001
EXPOSE 8000 9100
# The API answers /health; a worker sets HEALTHCHECK_URL to its metrics endpoint.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["parley", "healthcheck"]
ENTRYPOINT ["parley"]
CMD ["api"]

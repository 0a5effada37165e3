"""Parley's configuration: one Settings object, nested by concern, read from the environment.

Each concern is its own ``BaseSettings`` with an env prefix, so the variable names operators
expect (``DATABASE_URL``, ``REDIS_URL``, ``OPENAI_API_KEY`` ...) work without a nesting
delimiter. Secrets are ``SecretStr`` so they never reach a log or a repr by accident.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", env_file=None)


class DatabaseSettings(BaseSettings):
    """PostgreSQL connections: the application role for requests and jobs, an admin URL for
    migrations (an owner or superuser connection)."""

    model_config = _section("DATABASE_")

    url: str = Field(
        default="",
        description="SQLAlchemy URL of the application role (no owner, no BYPASSRLS).",
    )
    admin_url: str = Field(
        default="",
        description="URL used by `parley migrate`: a superuser or a role that can SET ROLE "
        "to the owner role.",
    )
    owner_role: str = Field(
        "parley_owner", description="Role that owns the tables; migrations run as it."
    )
    app_role: str = Field(
        "parley_app", description="Role the API and workers log in as: not owner, no BYPASSRLS."
    )
    app_password: SecretStr | None = Field(
        None, description="Password `parley migrate` sets on the application role."
    )
    # Above the concurrency one process sees: when more requests hold a connection than the
    # pool keeps, the extra ("overflow") ones are closed as they come back and reopened by the
    # next burst, a new PostgreSQL backend per request (measured in ops/bench/graphql_path.py).
    pool_size: int = Field(20, description="Connections kept open per process.")
    max_overflow: int = Field(10, description="Extra connections allowed under load.")
    pool_timeout: float = Field(
        5.0, description="Seconds to wait for a free connection before failing with 503."
    )
    statement_timeout_ms: int = Field(
        15_000, description="PostgreSQL statement_timeout for the application role."
    )
    replica_urls: list[str] = Field(
        default_factory=list,
        description="Application-role URLs of streaming replicas; read-only GraphQL operations "
        "go there (JSON list, e.g. '[\"postgresql://...\"]').",
    )
    read_your_writes_s: float = Field(
        default=5.0,
        description="After a principal's write, its reads stay on the primary this long.",
    )
    maintenance_role: str = Field(
        default="parley_maintenance",
        description="NOLOGIN role the application role may SET ROLE to for listing workspace "
        "ids only (retention, exports); it sees no other column.",
    )


class RedisSettings(BaseSettings):
    """Redis for arq queues, rate limits, caches and pub/sub."""

    model_config = _section("REDIS_")

    url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis for queues, limits, caches and pub/sub."
    )
    key_prefix: str = Field("parley:", description="Prefix of every Redis key Parley writes.")


class AuthSettings(BaseSettings):
    """Tokens and password hashing."""

    model_config = _section("AUTH_")

    jwt_secret: SecretStr = Field(
        SecretStr(""),
        description="HS256 signing secret; required in production (development generates "
        "one under the data dir).",
    )
    jwt_issuer: str = Field("parley", description="`iss` claim of access tokens.")
    access_token_ttl_s: int = Field(900, description="Lifetime of access tokens in seconds.")
    refresh_token_ttl_s: int = Field(
        30 * 24 * 3600, description="Lifetime of a log-in session in seconds."
    )
    invitation_ttl_s: int = Field(7 * 24 * 3600, description="Lifetime of invitations in seconds.")
    # argon2id defaults follow RFC 9106's second recommendation; tests lower them.
    argon2_time_cost: int = Field(3, description="argon2id iterations.")
    argon2_memory_kib: int = Field(65_536, description="argon2id memory in KiB.")
    argon2_parallelism: int = Field(4, description="argon2id lanes.")


class OpenAISettings(BaseSettings):
    """Any OpenAI-compatible endpoint (OpenAI, Azure OpenAI, vLLM, Ollama...)."""

    model_config = _section("OPENAI_")

    api_key: SecretStr | None = Field(
        None, description="API key; without one, answers are extractive and embeddings local."
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint (Azure OpenAI, vLLM, Ollama...)."
    )
    chat_model: str = Field("gpt-4o-mini", description="Chat model for generated answers.")
    embedding_model: str = Field(
        "text-embedding-3-small", description="Embedding model at the OpenAI endpoint."
    )
    timeout_s: float = Field(30.0, description="Per-request timeout in seconds.")
    max_retries: int = Field(2, description="SDK retries on 429/5xx.")


class EmbeddingSettings(BaseSettings):
    """Which embedding provider a new workspace uses."""

    model_config = _section("EMBEDDING_")

    provider: Literal["auto", "openai", "local"] = Field(
        "auto", description="auto: openai when OPENAI_API_KEY is set, else local."
    )
    local_model: str = Field("all-MiniLM-L6-v2", description="Local sentence-transformers model.")
    batch_size: int = Field(64, description="Texts per embedding call.")
    local_threads: int = Field(
        1,
        ge=1,
        description="CPU threads the local model may use per process (torch intra-op threads). "
        "One: a short question encodes in ~15 ms on one core, while several threads stall "
        "whenever the API, the workers or PostgreSQL hold the other cores.",
    )
    openai_dimensions: int | None = Field(
        default=None,
        description="Vector size of an OpenAI-compatible model Parley does not know (for "
        "example one served by Ollama); known models need nothing.",
    )


class KnowledgeSettings(BaseSettings):
    """Limits and tuning of the knowledge base: documents, chunking and search."""

    model_config = _section("KNOWLEDGE_")

    max_text_chars: int = Field(
        default=500_000, description="Longest text or Markdown document accepted by mutation."
    )
    max_file_bytes: int = Field(default=10 * 1024 * 1024, description="Largest uploaded file.")
    max_files_per_request: int = Field(5, description="Most files in one upload request.")
    max_documents_per_page: int = Field(100, description="Largest page of documents.")
    chunk_max_tokens: int = Field(default=200, description="Upper bound of a chunk, in tokens.")
    chunk_overlap_tokens: int = Field(
        default=40, description="Tokens repeated from the end of one chunk at the next's start."
    )
    ingest_timeout_s: int = Field(default=300, description="arq timeout of one ingestion job.")
    embed_rate_limit_wait_s: float = Field(
        default=300.0,
        description="How long one ingestion job keeps waiting out 429s before handing the "
        "retry to arq.",
    )
    exact_search_below: int = Field(
        default=20_000,
        description="Workspaces with fewer chunks than this are searched exactly; larger ones "
        "through the HNSW index with iterative scans.",
    )
    hnsw_ef_search: int = Field(100, description="hnsw.ef_search for large workspaces.")
    hnsw_max_scan_tuples: int = Field(
        40_000, description="hnsw.max_scan_tuples: bound of an iterative index scan."
    )
    keyword_candidates: int = Field(
        default=300, description="Most keyword matches ranked per search (bounds its cost)."
    )
    retry_base_s: float = Field(
        default=5.0,
        description="Ingestion retries wait retry_base_s * try² (5, 20, 45, 80 s by default).",
    )
    reembed_batch: int = Field(256, description="Chunks re-embedded per batch.")
    reembed_slice_s: float = Field(
        default=120.0, description="How long one re-embedding job runs before it re-enqueues."
    )


class AssistantSettings(BaseSettings):
    """Answering: retrieval depth, generation, cache and limits."""

    model_config = _section("ASSISTANT_")

    generation: Literal["auto", "extractive"] = Field(
        default="auto",
        description="auto: generate answers with the chat model when an OpenAI-compatible "
        "endpoint is configured, else compose them extractively; extractive: always compose.",
    )
    max_question_chars: int = Field(2_000, description="Longest question accepted.")
    passages: int = Field(default=6, description="Passages retrieved per question.")
    history_messages: int = Field(
        default=6, description="Earlier messages of the conversation given to the model."
    )
    min_similarity: float | None = Field(
        default=None,
        description="Cosine similarity below which a passage is unrelated; the embedding "
        "model's default when unset.",
    )
    faq_similarity: float | None = Field(
        default=None,
        description="Cosine similarity from which an FAQ entry answers a question directly; "
        "the embedding model's default when unset.",
    )
    max_output_tokens: int = Field(700, description="Most tokens a generated answer may use.")
    temperature: float = Field(0.2, description="Sampling temperature of generated answers.")
    cache_ttl_s: int = Field(24 * 3600, description="How long answers stay in the cache.")
    stream_ttl_s: int = Field(600, description="How long a streamed answer can be followed.")
    breaker_failures: int = Field(
        5, ge=1, description="Transient model failures within the window that open the breaker."
    )
    breaker_window_s: int = Field(60, ge=1, description="Window in which failures are counted.")
    breaker_cooldown_s: int = Field(
        30,
        ge=1,
        description="How long an open breaker answers extractively before trying the model again.",
    )


class RazorpaySettings(BaseSettings):
    """Razorpay credentials and endpoint."""

    model_config = _section("RAZORPAY_")

    key_id: str = Field("", description="Razorpay key id.")
    key_secret: SecretStr | None = Field(None, description="Razorpay key secret.")
    webhook_secrets: list[SecretStr] = Field(
        default_factory=list, description="Webhook secrets (JSON list; two during rotation)."
    )
    base_url: str | None = Field(
        None, description="Razorpay API base URL (tests point it at a local server)."
    )
    timeout_s: float = Field(15.0, description="Timeout of one Razorpay API call in seconds.")


class BillingSettings(BaseSettings):
    """Plans, grace periods, quota reservations and the Razorpay background jobs."""

    model_config = _section("BILLING_")

    checkout_name: str = Field("Parley", description="Business name shown in Razorpay Checkout.")
    # Razorpay needs a cycle count for every subscription; 120 monthly cycles is ten years.
    subscription_total_count: int = Field(
        120, description="Billing cycles requested for every Razorpay subscription."
    )
    grace_period_s: int = Field(
        7 * 24 * 3600, description="Paid limits last this long after a failed charge."
    )
    reservation_ttl_s: int = Field(
        600, description="AI token reservations not committed within this expire."
    )
    reconcile_interval_s: int = Field(
        3600, description="How often live subscriptions are fetched from Razorpay."
    )
    reconcile_batch: int = Field(100, description="Subscriptions fetched per reconciliation run.")
    checkout_watch_s: int = Field(
        7 * 24 * 3600, description="How long an unpaid checkout is watched by reconciliation."
    )
    unmatched_retry_delays_s: list[int] = Field(
        default_factory=lambda: [60, 600, 3600],
        description="Delays before re-processing webhook events that matched nothing yet.",
    )
    requeue_after_s: int = Field(
        60, description="Stored webhook events not processed within this are re-queued."
    )


class SentrySettings(BaseSettings):
    """Error reporting; off without a DSN."""

    model_config = _section("SENTRY_")

    dsn: SecretStr | None = Field(None, description="Sentry DSN; reporting is off without one.")
    traces_sample_rate: float = Field(0.0, description="Share of requests traced.")
    release: str | None = Field(None, description="Release name reported to Sentry.")
    environment: str | None = Field(
        default=None, description="Sentry environment; defaults to PARLEY_ENV."
    )


class MetricsSettings(BaseSettings):
    """Prometheus metrics."""

    model_config = _section("METRICS_")

    token: SecretStr | None = Field(
        default=None,
        description="When set, /metrics requires 'Authorization: Bearer <token>'.",
    )
    max_operation_labels: int = Field(
        default=200, ge=1, le=5000, description="Distinct GraphQL operation names per process."
    )
    worker_host: str = Field("127.0.0.1", description="Bind address of the worker metrics server.")
    worker_port: int = Field(
        default=9100, ge=0, le=65535, description="Worker metrics port; 0 turns it off."
    )


class WorkerSettings(BaseSettings):
    """arq worker processes."""

    model_config = _section("WORKER_")

    shutdown_timeout_s: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM, running jobs get this long to finish before they are "
        "cancelled and handed back to the queue.",
    )
    queue_sample_interval_s: float = Field(
        default=5.0, gt=0, description="How often workers sample queue depth for metrics."
    )
    job_timeout_s: int = Field(600, description="arq timeout of one bulk job.")
    interactive_job_timeout_s: int = Field(
        120,
        description="arq timeout of one answer job; a crashed worker's answer is taken up "
        "again after this plus 10 s.",
    )
    max_tries: int = Field(5, description="Tries of a job before it fails for good.")
    interactive_max_jobs: int = Field(20, description="Interactive jobs run at once per worker.")
    interactive_poll_delay_s: float = Field(
        default=0.02,
        description="How often the interactive queue is polled. Requests also wake the "
        "interactive workers when they enqueue an answer, so this is the fallback for lost "
        "wake-ups and for jobs the outbox relay delivers.",
    )
    bulk_max_jobs: int = Field(4, description="Bulk jobs run at once per worker.")
    bulk_poll_delay_s: float = Field(0.5, description="How often the bulk queue is polled.")


class OutboxSettings(BaseSettings):
    """The job outbox: jobs recorded with the data, delivered to arq after commit."""

    model_config = _section("OUTBOX_")

    enqueue_timeout_s: float = Field(
        default=1.0,
        gt=0,
        description="How long a request waits for Redis to take its jobs after commit; jobs "
        "it could not hand over stay in the outbox for the relay.",
    )
    relay_interval_s: float = Field(
        default=1.0, gt=0, description="How often each worker's relay looks for left-over jobs."
    )
    relay_grace_s: float = Field(
        default=5.0,
        ge=0,
        description="The relay leaves jobs younger than this to the request that wrote them.",
    )
    relay_batch: int = Field(
        default=200, gt=0, description="Jobs one relay round delivers per workspace at most."
    )


class AuditSettings(BaseSettings):
    """How long audit and security records are kept."""

    model_config = _section("AUDIT_")

    retention_days: int = Field(
        default=365, ge=1, le=3650, description="Audit log rows older than this are deleted."
    )
    security_events_retention_days: int = Field(
        default=90, ge=1, le=3650, description="Security events older than this are deleted."
    )


class EmailSettings(BaseSettings):
    """Outgoing mail. Without a host, invitation tokens are returned to the inviter and logged."""

    model_config = _section("EMAIL_")

    smtp_host: str | None = Field(
        None, description="SMTP server; without one, invitation tokens are returned to the inviter."
    )
    smtp_port: int = Field(587, description="SMTP port.")
    sender: str = Field("Parley <no-reply@localhost>", description="From address of outgoing mail.")


class ApiSettings(BaseSettings):
    """The HTTP/GraphQL surface."""

    model_config = _section("API_")

    public_url: str = Field("http://127.0.0.1:8000", description="Where clients reach the API.")
    host: str = Field("127.0.0.1", description="Bind address of `parley api`.")
    port: int = Field(8000, description="Port of `parley api`.")
    workers: int = Field(1, description="API processes.")
    max_body_bytes: int = Field(1_048_576, description="Largest request body accepted (413 above).")
    cors_origins: list[str] = Field(
        default_factory=list, description="Dashboard origins allowed by CORS."
    )
    graphiql: bool | None = Field(None, description="Serve GraphiQL (default: outside production).")
    introspection: bool | None = Field(
        None, description="Allow introspection (default: outside production)."
    )
    max_query_depth: int = Field(12, description="Deepest GraphQL selection accepted.")
    max_aliases: int = Field(30, description="Most aliases in one document.")
    max_tokens: int = Field(2_000, description="Most lexical tokens in one document.")
    max_batch: int = Field(0, description="Operations per batched request; 0 turns batching off.")
    page_size_max: int = Field(100, description="Largest page a connection returns.")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Proxy networks whose X-Forwarded-For is believed."
    )
    shutdown_timeout_s: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM, in-flight requests get this long to finish.",
    )
    max_query_cost: int = Field(
        5_000, description="Most objects a document may resolve (page sizes times nesting)."
    )
    gc_gen0_threshold: int = Field(
        5_000,
        ge=0,
        description="Allocations between young-generation garbage collections in the API "
        "process (Python's default 700); 0 keeps Python's settings and skips gc.freeze.",
    )
    cost_per_point: int = Field(
        100, description="Rate-limit points charged = ceil(cost / this), at least 1."
    )
    persisted_query_ttl_s: int = Field(
        7 * 24 * 3600, description="How long automatic persisted queries stay in Redis."
    )
    persisted_query_max_bytes: int = Field(
        65_536, description="Largest document accepted as a persisted query."
    )
    widget_operations_dir: str = Field(
        "",
        description="Operations publishable keys are held to (default: "
        "graphql/operations/widget in the source tree).",
    )


class RateLimitSettings(BaseSettings):
    """Redis-backed rate limits (tenancy/ratelimit). Budgets are in points per window: a simple
    operation costs one point, larger documents more (see ApiSettings.cost_per_point).

    The per-workspace budgets here are defaults until plans provide them
    (tenancy/ratelimit/limits.py is the single place that reads them)."""

    model_config = _section("RATELIMIT_")

    enabled: bool = Field(True, description="Enforce rate limits.")
    window_s: int = Field(60, description="Length of a rate-limit window in seconds.")
    api_per_window: int | None = Field(
        None,
        description="Workspace API budget per window for every workspace, overriding the plans' "
        "API requests per minute (unset: each workspace's plan decides).",
    )
    answers_per_window: int = Field(30, description="Default workspace answers budget per window.")
    concurrent_model_calls: int = Field(4, description="Model calls a workspace may run at once.")
    principal_share: float = Field(
        0.5,
        description="Share of its workspace's budget one user or secret key may use "
        "(1.0 turns the per-principal budget off).",
    )
    visitor_per_window: int = Field(30, description="Budget per widget visitor (or IP).")
    user_per_window: int = Field(300, description="Budget of users acting outside a workspace.")
    anonymous_per_window: int = Field(
        60, description="Budget per client IP without credentials (sign-up, log-in, failures)."
    )
    fallback_fraction: float = Field(
        0.25, description="Fraction of each budget enforced per process while Redis is down."
    )
    redis_timeout_ms: int = Field(
        40, description="Redis silence after which the limiter falls back."
    )
    redis_retry_s: float = Field(1.0, description="How often an unreachable Redis is probed.")
    model_call_lease_s: int = Field(120, description="Lease of one concurrent model call slot.")
    sockets_per_visitor: int = Field(
        3, ge=1, description="Open WebSocket connections a widget visitor (or IP) may hold."
    )
    sockets_per_caller: int = Field(
        20, ge=1, description="Open WebSocket connections a user or secret key may hold."
    )
    socket_lease_s: int = Field(
        60,
        ge=3,
        description="Lease of an open WebSocket's seat, renewed while it stays open "
        "(a crashed process's seats free themselves after this).",
    )


class CacheSettings(BaseSettings):
    """The two-level cache of reads made on nearly every request (app/cache): API keys,
    widget configuration and plan limits. Each process keeps entries for a moment, Redis
    keeps them longer, PostgreSQL stays the truth; a change is announced to every process
    over Redis pub/sub when it commits."""

    model_config = _section("CACHE_")

    enabled: bool = Field(True, description="Cache hot reads (off: every read goes to PostgreSQL).")
    local_ttl_s: float = Field(
        1.0,
        description="How long a process keeps an entry; bounds staleness if an invalidation "
        "message is lost (pub/sub connection down).",
    )
    local_max_entries: int = Field(10_000, description="Entries one process keeps (LRU).")
    redis_ttl_s: float = Field(60.0, description="How long an entry stays in Redis.")
    negative_ttl_s: float = Field(
        1.0,
        description="How long a process remembers that a key does not exist (never shared "
        "through Redis; 0: not at all).",
    )
    redis_timeout_ms: int = Field(
        100, description="Redis wait after which a read goes to PostgreSQL instead."
    )
    redis_retry_s: float = Field(
        1.0, description="After a Redis failure, how long the cache reads PostgreSQL only."
    )
    invalidation_hold_s: float = Field(
        5.0,
        description="After a change, how long Redis refuses to store that entry again (a "
        "reader that loaded the old row before the commit cannot put it back).",
    )


class Settings(BaseSettings):
    """All of Parley's settings."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore", env_file=None)

    env: Environment = Field("development", description="development, test or production.")
    data_dir: str = Field(
        ".data", description="Where `make run` keeps PostgreSQL, Redis and the dev secret."
    )
    log_level: str = Field("INFO", description="Log level.")
    log_json: bool = Field(False, description="Log JSON lines instead of text.")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    assistant: AssistantSettings = Field(default_factory=AssistantSettings)
    razorpay: RazorpaySettings = Field(default_factory=RazorpaySettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    sentry: SentrySettings = Field(default_factory=SentrySettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    ratelimit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)

    @property
    def is_production(self) -> bool:
        """True when running for real users: developer conveniences are off."""
        return self.env == "production"

    @property
    def graphiql_enabled(self) -> bool:
        """GraphiQL is served in development unless configured otherwise."""
        return self.api.graphiql if self.api.graphiql is not None else not self.is_production

    @property
    def introspection_enabled(self) -> bool:
        """Introspection and field suggestions are off in production unless asked for."""
        if self.api.introspection is not None:
            return self.api.introspection
        return not self.is_production


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()

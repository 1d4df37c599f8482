"""Prometheus metrics, defined once; the server exposes them at ``/metrics``.

Counters are process-local (each replica is scraped separately); facts shared by replicas,
such as the last cleanup run, are also kept in the database by the code that records them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "llmtrail_http_requests_total",
    "HTTP requests served.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "llmtrail_http_request_duration_seconds",
    "HTTP request latency.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
TRAILS_STORED = Counter(
    "llmtrail_trails_stored_total", "Audit trails newly stored.", ["backend"], registry=REGISTRY
)
STORE_ERRORS = Counter(
    "llmtrail_store_errors_total",
    "Store operations that failed, by error type.",
    ["backend", "error"],
    registry=REGISTRY,
)
BACKEND_INFO = Gauge(
    "llmtrail_backend_info",
    "The store backend and database in use (value is always 1).",
    ["backend", "database"],
    registry=REGISTRY,
)
CLEANUP_RUNS = Counter(
    "llmtrail_cleanup_runs_total",
    "Retention cleanup runs, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
CLEANUP_LAST_RUN = Gauge(
    "llmtrail_cleanup_last_run_timestamp_seconds",
    "When the last cleanup finished (Unix time).",
    registry=REGISTRY,
)
CLEANUP_LAST_DURATION = Gauge(
    "llmtrail_cleanup_last_duration_seconds",
    "How long the last cleanup took.",
    registry=REGISTRY,
)
CLEANUP_LAST_DELETED = Gauge(
    "llmtrail_cleanup_last_deleted_trails",
    "How many trails the last cleanup deleted.",
    registry=REGISTRY,
)
CLEANUP_DELETED = Counter(
    "llmtrail_cleanup_deleted_trails_total",
    "Trails deleted by retention cleanup.",
    registry=REGISTRY,
)
CLEANUP_REDACTED = Counter(
    "llmtrail_cleanup_redacted_trails_total",
    "Trails whose content (reasoning, metadata) cleanup cleared by the content retention.",
    registry=REGISTRY,
)
DUAL_BACKLOG = Gauge(
    "llmtrail_dual_outbox_backlog",
    "Writes recorded for the dual-mode target, not yet replayed.",
    registry=REGISTRY,
)
DUAL_REPLAYED = Counter(
    "llmtrail_dual_outbox_replayed_total",
    "Outbox writes replayed to the dual-mode target.",
    registry=REGISTRY,
)
GROUP_COMMIT_TRAILS = Histogram(
    "llmtrail_group_commit_trails",
    "Trails per group commit of concurrent POSTs.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
BUDGET_AMOUNT = Gauge(
    "llmtrail_budget_amount_usd",
    "A project's budget per period (SPEC §12).",
    ["project", "period"],
    registry=REGISTRY,
)
BUDGET_SPENT = Gauge(
    "llmtrail_budget_spent_usd",
    "What a project has spent in its budget's current period.",
    ["project", "period"],
    registry=REGISTRY,
)
BUDGET_USED = Gauge(
    "llmtrail_budget_used_ratio",
    "Spent / budget in the current period (1 = all of it).",
    ["project", "period"],
    registry=REGISTRY,
)

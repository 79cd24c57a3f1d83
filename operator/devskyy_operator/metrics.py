"""Prometheus metrics. The seed's names (worker_*) are kept exactly; ours are devskyy_*.

Each component registers only what it updates; all live in this one module so
names, labels and buckets are defined once (README "Metrics" lists them). The
comment above each block names the component that updates it; the dashboard and
alert rules in deploy/monitoring query these names (tests/observability checks).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seed: 1 s .. 15 min.
DURATION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 180, 300, 450, 600, 900)
WAIT_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

# Operator (reconciler): one update per recorded outcome.
TASKS_TOTAL = Counter(
    "worker_tasks_total", "Tasks that reached an end, by type and status.", ["type", "status"]
)
TASK_DURATION = Histogram(
    "worker_task_duration_seconds",
    "Run time of finished tasks (Job start to end).",
    ["type"],
    buckets=DURATION_BUCKETS,
)
ERRORS_TOTAL = Counter("worker_errors_total", "Final task failures by type.", ["type"])
# Never set in this registry: the API serves it from its own (api/observe.py),
# read from Redis on each scrape.
QUEUE_SIZE_HELP = "Tasks waiting in the Redis queue:<type>."
QUEUE_SIZE = Gauge("worker_queue_size", QUEUE_SIZE_HELP, ["type"])

# Operator (admission loop, leader only): per admission and per round.
ADMISSION_WAIT = Histogram(
    "devskyy_admission_wait_seconds",
    "Time from queueing (CR created or enqueued) to admission (Job created).",
    ["type"],
    buckets=WAIT_BUCKETS,
)
RUNNING_TASKS = Gauge("devskyy_running_tasks", "Admitted tasks whose Job has not ended.", ["type"])
WAITING_TASKS = Gauge(
    "devskyy_waiting_tasks", "DevSkyyTask resources waiting for admission.", ["type"]
)
READY_BACKLOG = Gauge(
    "devskyy_ready_backlog",
    "Waiting tasks that could start now (schedule_at passed), by type.",
    ["type"],
)
# Operator: the size after each resync; the counter per record written.
DLQ_SIZE = Gauge("devskyy_dlq_size", "Records in the dead-letter index (devskyy:dlq-index).")
DEAD_LETTERS_TOTAL = Counter(
    "devskyy_dead_letters_total", "DLQ records written.", ["type", "reason"]
)
# Operator (reconciler): requests x run time, per finished task.
RESOURCE_SECONDS = Counter(
    "devskyy_task_resource_seconds_total",
    "Requested resources x run time of finished tasks (cpu: core-seconds, memory: "
    "byte-seconds), for cost attribution.",
    ["type", "user", "resource"],
)
# Operator: service-level objectives (Settings.sla). Each objective of a task is
# judged once (admission / end, or when its bound passes): the total counts it,
# the breaches counter its misses, so breaches/total is the error ratio of the
# burn-rate rules; the objectives themselves are gauges the rules divide by.
SLA_TASKS_TOTAL = Counter(
    "devskyy_sla_tasks_total", "Tasks judged against an SLA objective.", ["type", "objective"]
)
SLA_BREACHES_TOTAL = Counter(
    "devskyy_sla_breaches_total", "Tasks that missed an SLA objective.", ["type", "objective"]
)
SLA_OBJECTIVE_SECONDS = Gauge(
    "devskyy_sla_objective_seconds", "The bound of each SLA objective.", ["type", "objective"]
)
SLA_OBJECTIVE_TARGET = Gauge(
    "devskyy_sla_objective_target",
    "Share of tasks that should meet each SLA objective (1 - error budget).",
    ["type", "objective"],
)
# Operator (reconciler): one lookup per new cacheable task. Hit ratio:
# hits / (hits + misses).
RESULT_CACHE_HITS = Counter(
    "devskyy_result_cache_hits_total",
    "New tasks served from the result cache (Succeeded with cacheHit, no Job).",
    ["type"],
)
RESULT_CACHE_MISSES = Counter(
    "devskyy_result_cache_misses_total",
    "Result-cache lookups of new cacheable tasks that found no fresh entry (the task runs).",
    ["type"],
)
# Operator (reconciler): each finished task's cost (cost/), once per recorded outcome.
# No user label: users are unbounded (one series per user and type would grow without
# limit); per-user sums come from GET /v1/costs and the history.
TASK_COST = Counter(
    "devskyy_task_cost",
    "Cost of finished tasks in currency units, by type and component (resource, or the "
    "provider: openai, anthropic, google, tripo, fashn).",
    ["type", "component", "currency"],
)
# Bridge (Redis queue -> DevSkyyTask).
BRIDGE_LAG = Gauge(
    "devskyy_bridge_lag_seconds", "Age of the oldest task still waiting in a Redis queue.", ["type"]
)
BRIDGE_CREATED_TOTAL = Counter(
    "devskyy_bridge_created_total", "DevSkyyTask resources the bridge created.", ["type"]
)

# History writer (Redis stream -> PostgreSQL).
HISTORY_LAG = Gauge(
    "devskyy_history_lag_seconds",
    "Age of the oldest task transition not yet written to PostgreSQL (0 when caught up).",
)
HISTORY_BACKLOG = Gauge(
    "devskyy_history_backlog_events", "Task transitions in the Redis stream not yet written."
)
HISTORY_WRITTEN = Counter(
    "devskyy_history_events_written_total", "Transitions written to PostgreSQL.", ["kind"]
)
HISTORY_WRITE_ERRORS = Counter(
    "devskyy_history_write_errors_total", "Failed attempts to write a batch to PostgreSQL."
)
HISTORY_DROPPED = Counter(
    "devskyy_history_events_dropped_total",
    "Stream entries never written: trimmed at the stream cap, or not a transition.",
    ["reason"],
)
HISTORY_DELETED = Counter(
    "devskyy_history_retention_deleted_total", "Tasks (with their events) deleted by retention."
)


class ApiMetrics:
    """The API's Prometheus collectors, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.queue_size = Gauge(
            "worker_queue_size", QUEUE_SIZE_HELP, ["type"], registry=self.registry
        )
        self.history_age = Gauge(
            "devskyy_history_stream_age_seconds",
            "Age of the oldest transition waiting in the history stream (read from Redis "
            "on scrape: it grows also while no history writer runs).",
            registry=self.registry,
        )
        self.requests = Counter(
            "devskyy_api_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "devskyy_api_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )

"""Every Redis key, label, annotation and API name of the system, in one place.

The seed fixes `queue:<type>`, `devskyy:tasks:<id>` and `devskyy:dlq:<id>`;
everything we add lives under the `devskyy:` prefix.
"""

from __future__ import annotations

from devskyy_agents.models import TaskType

# --- Redis (seed layout)
QUEUE_PREFIX = "queue:"
TASK_PREFIX = "devskyy:tasks:"
DLQ_PREFIX = "devskyy:dlq:"

# --- Redis (ours)
DLQ_INDEX = "devskyy:dlq-index"  # ZSET id -> failed_at epoch; listing without KEYS
LEASES_PREFIX = "devskyy:leases:"  # ZSET per type: id -> lease expiry epoch
IDEMPOTENCY_PREFIX = "devskyy:idempotency:"  # STRING <user>:<key> -> task id
USER_TASKS_PREFIX = "devskyy:user-tasks:"  # ZSET per user: id -> created epoch
USER_QUEUED_PREFIX = "devskyy:user-queued:"  # SET per user: ids still queued
RATE_PREFIX = "devskyy:rate:"  # per-user request counters
COMPLETIONS_PREFIX = "devskyy:completions:"  # ZSET per type: id -> finished epoch (throughput)
COST_INDEX = "devskyy:costs"  # ZSET "id type user micros" -> finished epoch (GET /v1/costs)
SEQUENCE_KEY = "devskyy:sequence"  # INCR: FIFO tiebreak inside a priority
CANCEL_REQUESTS = "devskyy:cancel-requests"  # SET of claimed/running ids the bridge must stop
BRIDGED_PREFIX = "devskyy:bridged:"  # ZSET per type: ids the bridge claimed and not yet seen end
RESULT_CACHE_PREFIX = "devskyy:result-cache:"  # STRING <sha256> -> cached result JSON (TTL)
MODEL_LATEST_PREFIX = "devskyy:model-latest:"  # STRING <model_id> -> newest version seen
# Tasks for one region (spec.region) have queue, lease and bridged sets of their
# own, under devskyy:region:<region>:; a task without a region uses the seed's
# queue:<type> and the keys above, so the default path is the seed's.
REGION_PREFIX = "devskyy:region:"
# STREAM: one entry per task transition, appended by the scripts that make them
# (only while it exists); the history writer's consumer group drains it.
HISTORY_STREAM = "devskyy:history"
HISTORY_GROUP = "history-writer"


def _regional(key: str, region: str | None) -> str:
    """`key` itself, or the region's: devskyy:region:<region>:<key without devskyy:>."""
    return f"{REGION_PREFIX}{region}:{key.removeprefix('devskyy:')}" if region else key


def queue_key(task_type: TaskType | str, region: str | None = None) -> str:
    """`queue:<type>`; a region's: `devskyy:region:<region>:queue:<type>`."""
    return _regional(f"{QUEUE_PREFIX}{task_type}", region)


def task_key(task_id: str) -> str:
    return f"{TASK_PREFIX}{task_id}"


def dlq_key(task_id: str) -> str:
    return f"{DLQ_PREFIX}{task_id}"


def leases_key(task_type: TaskType | str, region: str | None = None) -> str:
    return _regional(f"{LEASES_PREFIX}{task_type}", region)


def idempotency_key(user_id: str, key: str) -> str:
    return f"{IDEMPOTENCY_PREFIX}{user_id}:{key}"


def user_tasks_key(user_id: str) -> str:
    return f"{USER_TASKS_PREFIX}{user_id}"


def user_queued_key(user_id: str) -> str:
    return f"{USER_QUEUED_PREFIX}{user_id}"


def bridged_key(task_type: TaskType | str, region: str | None = None) -> str:
    return _regional(f"{BRIDGED_PREFIX}{task_type}", region)


def completions_key(task_type: TaskType | str) -> str:
    return f"{COMPLETIONS_PREFIX}{task_type}"


def result_cache_key(digest: str) -> str:
    return f"{RESULT_CACHE_PREFIX}{digest}"


def model_latest_key(model_id: str) -> str:
    return f"{MODEL_LATEST_PREFIX}{model_id}"


def rate_key(user_id: str) -> str:
    return f"{RATE_PREFIX}{user_id}"


def queue_score(priority: int, sequence: int) -> float:
    """ZSET score: lower pops first. Higher priority first, then FIFO by sequence.

    Priorities are 0..1000 and sequences stay below 2**40, so the score is an
    exact integer in a double (< 2**53).
    """
    return float((1000 - priority) * (1 << 42) + sequence)


# --- Kubernetes
GROUP = "devskyy.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "DevSkyyTask"
PLURAL = "devskyytasks"
SINGULAR = "devskyytask"
SHORT_NAME = "dst"
CATEGORY = "devskyy"

LABEL_TASK_ID = "devskyy.io/task-id"
LABEL_TASK_TYPE = "devskyy.io/task-type"
LABEL_USER = "devskyy.io/user-id"
LABEL_TIER = "devskyy.io/tier"  # set by the bridge from the task hash (admission.tiers)
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "devskyy-operator"
ANNOTATION_SOURCE = "devskyy.io/source"  # "api" (bridge) or absent (kubectl)
ANNOTATION_ENQUEUED_AT = "devskyy.io/enqueued-at"
# On the Job's pod template: the task spec, which a downward-API volume hands the pod.
ANNOTATION_TASK_SPEC = "devskyy.io/task-spec"
ANNOTATION_ADMITTED_BY = "devskyy.io/admitted-by"  # on a Job: the operator replica that created it
LABEL_OPERATOR_LEASE = "devskyy.io/operator-lease"  # "shard" or "member" (sharded operators)

# --- Schedules (DevSkyySchedule): their runs are DevSkyyTasks carrying these.
SCHEDULE_KIND = "DevSkyySchedule"
SCHEDULE_PLURAL = "devskyyschedules"
SCHEDULE_SINGULAR = "devskyyschedule"
SCHEDULE_SHORT_NAME = "dss"
LABEL_SCHEDULE = "devskyy.io/schedule"  # on each run: the schedule's name
ANNOTATION_SCHEDULED_AT = "devskyy.io/scheduled-at"  # on each run: its scheduled time
# Schedules from the API (which has no Kubernetes credentials): the desired state in
# Redis, applied as DevSkyySchedule CRs by the bridge, whose status it mirrors back.
SCHEDULES = "devskyy:schedules"  # HASH name -> {"user_id", "spec", "created_at"} JSON
SCHEDULE_CHANGES = "devskyy:schedule-changes"  # HASH name -> revision the bridge must apply
SCHEDULE_REVISION = "devskyy:schedule-revision"  # INCR: revision of each change
SCHEDULE_STATUS = "devskyy:schedule-status"  # HASH name -> the CR's status JSON (bridge)
USER_SCHEDULES_PREFIX = "devskyy:user-schedules:"  # SET per user: names of their schedules


def user_schedules_key(user_id: str) -> str:
    return f"{USER_SCHEDULES_PREFIX}{user_id}"


# --- Workflows (DevSkyyWorkflow): named steps, each run as one DevSkyyTask
WORKFLOW_KIND = "DevSkyyWorkflow"
WORKFLOW_PLURAL = "devskyyworkflows"
WORKFLOW_SINGULAR = "devskyyworkflow"
WORKFLOW_SHORT_NAME = "dstwf"
LABEL_WORKFLOW = "devskyy.io/workflow"  # on a step task: the workflow it belongs to
LABEL_WORKFLOW_STEP = "devskyy.io/workflow-step"  # on a step task: its step name
# --- Workflows in Redis (the API's door: it holds no Kubernetes credentials)
WORKFLOW_PREFIX = "devskyy:workflows:"  # HASH per workflow: user_id, spec, phase, status
USER_WORKFLOWS_PREFIX = "devskyy:user-workflows:"  # ZSET per user: name -> submitted epoch
WORKFLOW_CREATES = "devskyy:workflow-creates"  # SET: submitted workflows the bridge must create
WORKFLOW_CANCELS = "devskyy:workflow-cancels"  # SET: workflows the bridge must cancel


def workflow_key(name: str) -> str:
    return f"{WORKFLOW_PREFIX}{name}"


def user_workflows_key(user_id: str) -> str:
    return f"{USER_WORKFLOWS_PREFIX}{user_id}"

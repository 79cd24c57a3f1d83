"""Task -> batch/v1 Job manifest. Pure: no client, time passed in.

The Job is the whole execution contract (DESIGN.md "The Job the operator
creates"): retries are `backoffLimit`, the timeout is `activeDeadlineSeconds`,
exit code 42 fails the Job at once, evictions do not burn retries, and the pod
passes Pod Security "restricted".

The task spec travels as compact JSON in a pod-template annotation that a
downward-API volume projects into the file named by DEVSKYY_TASK_SPEC_FILE
(every name the pod reads is in `devskyy_agents.task_env`): no extra
object per task, and no environment variable (Linux caps one at 128 KiB, and
environments show up in every `describe`). Inputs are capped at
MAX_INPUT_BYTES (64 KiB) serialized at every door, the rest of the spec is a
few hundred bytes, and an object's annotations may hold 256 KiB in all: close to a 4x
margin for the largest spec any door accepts.

Volumes: /tmp and the task's artifacts directory everywhere; ML types also get
/data/datasets (read-only) and /data/models (read-write for training, read-only
for prediction). A volume whose claim setting is None becomes an emptyDir, so the
paths always exist and a missing dataset fails as "file not found" inside the
task rather than as an unschedulable pod.

The artifacts volume is mounted with `subPath` = the task id at
/data/artifacts/<task id>: a pod sees its own task's directory (its ledger and
large results) and nothing of any other task's, and every attempt of the task
sees the same directory when the volume is a claim.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from devskyy_agents import task_env
from devskyy_agents.errors import PERMANENT_EXIT_CODE
from devskyy_agents.models import TaskType
from devskyy_operator import keys
from devskyy_operator.crd.task_view import TaskView
from devskyy_operator.job.resources import container_resources
from devskyy_operator.settings import Settings

TASK_CONTAINER = "task"  # the one container of a task pod (job/outcome.py reads its status)
ML_TYPES = frozenset({TaskType.ML_TRAINING, TaskType.ML_PREDICTION})
_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]")


def label_value(value: str) -> str:
    """`value` as a valid label value (<= 63 chars, alphanumeric ends).

    Characters a label cannot hold become "_"; a value that had to be cut keeps a
    hash suffix so two long user ids do not collapse into one label.
    """
    cleaned = _LABEL_VALUE_BAD.sub("_", value)
    if len(cleaned) > 63:
        digest = hashlib.sha256(value.encode()).hexdigest()[:8]
        cleaned = f"{cleaned[:54]}-{digest}"
    return cleaned.strip("._-")


def task_labels(task: TaskView) -> dict[str, str]:
    return {
        keys.LABEL_TASK_ID: task.name,
        keys.LABEL_TASK_TYPE: task.task_type.value,
        keys.LABEL_USER: label_value(task.user_id),
        keys.LABEL_MANAGED_BY: keys.MANAGED_BY,
    }


def spec_json(task: TaskView) -> str:
    """The spec as the pod sees it: compact, aliases, no nulls."""
    data = task.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


# The Job's activeDeadlineSeconds is the authoritative timeout (reason
# DeadlineExceeded, no retry). The pod's own deadline only bounds its internal
# waits (backoff, polling); it lies a little later so that a pod that gives up at
# its deadline can never turn a timeout into a retryable failure.
POD_DEADLINE_SLACK_SECONDS = 15


def task_timeout(task: TaskView, settings: Settings) -> int:
    """The task's own or its type's timeout, never above TASK_TIMEOUT."""
    return min(task.spec.effective_timeout(), settings.task_timeout_seconds)


def _env(task: TaskView, settings: Settings, now: datetime) -> list[dict[str, str]]:
    """What differs per task or from the entrypoint's defaults (`task_env`): the
    paths are the defaults, so they stay out of every Job and pod."""
    timeout = task_timeout(task, settings)
    deadline = int(now.timestamp()) + timeout + POD_DEADLINE_SLACK_SECONDS
    pairs = [
        (task_env.TASK_ID, task.name),
        (task_env.TASK_TYPE, task.task_type.value),
        (task_env.TASK_DEADLINE, str(deadline)),
        (task_env.TASK_RETRIES, str(task.spec.effective_retries())),
        (task_env.WORKER_THREADS, str(settings.task_threads)),
    ]
    if settings.artifacts_claim:  # the task's ledger outlives the pod (an emptyDir dies with it)
        pairs.append((task_env.ARTIFACTS_PERSISTENT, "true"))
    if settings.log_format != task_env.DEFAULT_LOG_FORMAT:
        pairs.append((task_env.LOG_FORMAT, settings.log_format))
    return [{"name": name, "value": value} for name, value in pairs]


def _env_from(settings: Settings) -> list[dict[str, Any]]:
    """Secrets and config by reference only; optional so a missing one fails in the task."""
    sources: list[dict[str, Any]] = []
    if settings.task_secret_name:
        sources.append({"secretRef": {"name": settings.task_secret_name, "optional": True}})
    if settings.task_config_map:
        sources.append({"configMapRef": {"name": settings.task_config_map, "optional": True}})
    return sources


def _volume(name: str, claim: str | None, size_limit: str, read_only: bool) -> dict[str, Any]:
    if claim:
        return {"name": name, "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only}}
    return {"name": name, "emptyDir": {"sizeLimit": size_limit}}


def _volumes(
    task: TaskView, settings: Settings, size_limit: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volumeMounts) for the task type."""
    plan: list[tuple[str, str, str | None, bool]] = [
        ("tmp", "/tmp", None, False),  # noqa: S108 - an emptyDir, not the host's /tmp
        ("artifacts", task_artifacts_dir(task.name), settings.artifacts_claim, False),
    ]
    if task.task_type in ML_TYPES:
        training = task.task_type is TaskType.ML_TRAINING
        plan.append(("datasets", task_env.DATASETS_PATH, settings.datasets_claim, True))
        plan.append(("models", task_env.MODELS_PATH, settings.models_claim, not training))
    volumes = [_volume(name, claim, size_limit, ro) for name, _, claim, ro in plan]
    mounts: list[dict[str, Any]] = []
    for name, path, _, ro in plan:
        mount: dict[str, Any] = {"name": name, "mountPath": path}
        if ro:
            mount["readOnly"] = True
        if name == "artifacts":
            mount["subPath"] = task.name
        mounts.append(mount)
    field = f"metadata.annotations['{keys.ANNOTATION_TASK_SPEC}']"
    volumes.append(
        {
            "name": "spec",
            "downwardAPI": {
                "items": [{"path": task_env.SPEC_FILE_NAME, "fieldRef": {"fieldPath": field}}]
            },
        }
    )
    mounts.append({"name": "spec", "mountPath": task_env.SPEC_DIR_PATH, "readOnly": True})
    return volumes, mounts


def task_artifacts_dir(task_id: str) -> str:
    """Where a task's own directory of the artifacts volume appears in its pod."""
    return f"{task_env.ARTIFACTS_PATH}/{task_id}"


def build_job(task: TaskView, settings: Settings, now: datetime) -> dict[str, Any]:
    """The Job manifest for `task`; name = task name, owned by the CR."""
    labels = task_labels(task)
    resources = container_resources(task.spec, settings.resources_for(task.task_type))
    volumes, mounts = _volumes(task, settings, resources["limits"]["ephemeral-storage"])
    uid = settings.task_run_as_user
    container: dict[str, Any] = {
        "name": TASK_CONTAINER,
        "image": settings.image_for(task.task_type),
        "imagePullPolicy": settings.image_pull_policy,
        "command": list(settings.task_command),
        "env": _env(task, settings, now),
        "resources": resources,
        "volumeMounts": mounts,
        # terminationMessagePath and -Policy: Kubernetes' defaults, /dev/termination-log
        # (task_env.TERMINATION_LOG_PATH, where the entrypoint writes) and File.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    env_from = _env_from(settings)
    if env_from:
        container["envFrom"] = env_from
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    if settings.task_service_account:
        pod_spec["serviceAccountName"] = settings.task_service_account
    pod_spec |= settings.scheduling_for(task.task_type).pod_fields()
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": task.name,
            "namespace": task.namespace,
            "labels": dict(labels),
            "ownerReferences": [
                {
                    "apiVersion": keys.API_VERSION,
                    "kind": keys.KIND,
                    "name": task.name,
                    "uid": task.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": task.spec.effective_retries(),
            "activeDeadlineSeconds": task_timeout(task, settings),
            "podReplacementPolicy": "Failed",
            "podFailurePolicy": {
                "rules": [
                    # First: a disrupted pod (eviction, preemption, node drain) is
                    # never the task's fault, whatever exit code SIGTERM produced.
                    {
                        "action": "Ignore",
                        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                    },
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": TASK_CONTAINER,
                            "operator": "In",
                            "values": [PERMANENT_EXIT_CODE],
                        },
                    },
                ]
            },
            "template": {
                "metadata": {
                    "labels": dict(labels),
                    "annotations": {keys.ANNOTATION_TASK_SPEC: spec_json(task)},
                },
                "spec": pod_spec,
            },
        },
    }

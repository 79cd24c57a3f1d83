"""What the operator keeps of a Job: the parts its decisions read.

Ownership (uid, ownerReferences), the task label, deletion, and the status. A
Job's spec (its pod template, ~3 KB decoded) is never read after creation, so a
watch event's Job is cut down to this before it is kept or compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devskyy_operator import keys

KEPT_METADATA = ("name", "namespace", "uid", "ownerReferences", "labels", "deletionTimestamp")


def job_record(job: Mapping[str, Any]) -> dict[str, Any]:
    meta = job.get("metadata") or {}
    return {
        "metadata": {k: meta[k] for k in KEPT_METADATA if k in meta},
        "status": dict(job.get("status") or {}),
    }


def task_of_job(job: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, task name) of an operator Job: its task label, else its name (equal)."""
    meta = job.get("metadata") or {}
    name = (meta.get("labels") or {}).get(keys.LABEL_TASK_ID) or meta.get("name")
    return str(meta.get("namespace") or ""), str(name or "")

"""Per task, its pods as the pod watch last delivered them (slim copies; no I/O).

Fed by `pod_watch.py` one pod per event (the watch's LIST as ADDED events, a
pod that vanished meanwhile as DELETED). `synced` is set once that first LIST
is in: from then on it holds every watched pod as of some moment of the watch,
a view a reconcile may decide on instead of a LIST (`pods_of`) when it shows
what the decision reads (`pod_records.suffices`).

Bounded: a pod leaves on its DELETED event (the retention sweep deletes its
Job, the garbage collector its pods) and with its task (`forget`); a late event
of a forgotten task's pod brings back only that pod, until its DELETED.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devskyy_operator import keys
from devskyy_operator.job.pod_records import job_uid_of, slim_pod

TaskKey = tuple[str, str]  # (namespace, task name)


def task_key(pod: Mapping[str, Any]) -> TaskKey | None:
    """The task of an operator pod (its task label), None for any other pod."""
    meta = pod.get("metadata") or {}
    name = (meta.get("labels") or {}).get(keys.LABEL_TASK_ID)
    return (str(meta.get("namespace") or ""), str(name)) if name else None


@dataclass
class PodStore:
    synced: bool = False
    # task -> pod uid -> slim copy
    tasks: dict[TaskKey, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # pod uid -> its task: a DELETED stand-in carries the uid, not the labels
    owners: dict[str, TaskKey] = field(default_factory=dict)

    def put(self, pod: Mapping[str, Any]) -> None:
        """An ADDED or MODIFIED pod."""
        key, uid = task_key(pod), str((pod.get("metadata") or {}).get("uid") or "")
        if key is not None and uid:
            self.tasks.setdefault(key, {})[uid] = slim_pod(pod)
            self.owners[uid] = key

    def drop(self, pod: Mapping[str, Any]) -> None:
        """A DELETED pod."""
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        key = self.owners.pop(uid, None)
        held = self.tasks.get(key) if key is not None else None
        if key is None or held is None:
            return
        held.pop(uid, None)
        if not held:
            del self.tasks[key]

    def forget(self, namespace: str, name: str) -> None:
        """The task is gone: its pods with it."""
        for uid in self.tasks.pop((namespace, name), {}):
            self.owners.pop(uid, None)

    def pods_of(self, namespace: str, name: str, job_uid: str) -> list[dict[str, Any]] | None:
        """The copies of the pods of that Job (by uid: not those of an older Job of
        the name), or None before the first LIST is in."""
        if not self.synced:
            return None
        held = self.tasks.get((namespace, name)) or {}
        return [pod for pod in held.values() if job_uid_of(pod) == job_uid]

    def __len__(self) -> int:
        return len(self.owners)

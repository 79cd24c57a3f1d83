"""Per task, its pods as the pod watch last delivered them (slim copies; no I/O).

Fed by `pod_watch.py`: replaced by each LIST the watch starts from, then one
pod per event. `synced` says whether it holds every watched pod up to the
watch's resourceVersion (after that LIST, until a 410 Gone): only then are the
copies a view a reconcile may decide on instead of a LIST (`pods_of`).

Bounded: a pod leaves on its DELETED event (its Job's retention deletes the
Job, the garbage collector its pods) and with its task (`forget`); a late event
of a forgotten task's pod brings back only that pod, until its DELETED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devskyy_operator import keys
from devskyy_operator.job.pod_records import job_uid_of, slim_pod

TaskKey = tuple[str, str]  # (namespace, task name)


def task_key(pod: Mapping[str, Any]) -> TaskKey | None:
    meta = pod.get("metadata") or {}
    name = (meta.get("labels") or {}).get(keys.LABEL_TASK_ID)
    return (str(meta.get("namespace") or ""), str(name)) if name else None


@dataclass
class PodStore:
    synced: bool = False
    # task -> pod uid -> slim copy
    tasks: dict[TaskKey, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def replace(self, pods: Iterable[Mapping[str, Any]]) -> None:
        """The watch's LIST: every watched pod, now complete (synced)."""
        self.tasks = {}
        for pod in pods:
            self.put(pod)
        self.synced = True

    def put(self, pod: Mapping[str, Any]) -> None:
        """An ADDED or MODIFIED pod."""
        key, uid = task_key(pod), (pod.get("metadata") or {}).get("uid")
        if key is not None and uid:
            self.tasks.setdefault(key, {})[str(uid)] = slim_pod(pod)

    def drop(self, pod: Mapping[str, Any]) -> None:
        """A DELETED pod."""
        key, uid = task_key(pod), (pod.get("metadata") or {}).get("uid")
        held = self.tasks.get(key) if key is not None else None
        if held is None:
            return
        held.pop(str(uid), None)
        if not held and key is not None:
            del self.tasks[key]

    def forget(self, namespace: str, name: str) -> None:
        self.tasks.pop((namespace, name), None)

    def pods_of(self, namespace: str, name: str, job_uid: str) -> list[dict[str, Any]] | None:
        """The copies of the pods of that Job (by uid: not those of an older Job of
        the name), or None while the store is not synced."""
        if not self.synced:
            return None
        held = self.tasks.get((namespace, name)) or {}
        return [pod for pod in held.values() if job_uid_of(pod) == job_uid]

    def __len__(self) -> int:
        return sum(len(pods) for pods in self.tasks.values())

"""An in-memory cache of DevSkyyTasks in one namespace: list once, then watch.

The bridge asks it "how many CRs of this type wait for admission?" every cycle;
answering from a cache keeps that O(1) in API calls however many tasks exist.
A watch that ends is resumed from the last resourceVersion it delivered (bookmarks
included); 410 Gone (or any error) means relist. The bridge also feeds its own
create responses in (`observe`), so a CR counts at once rather than when its
watch event arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from devskyy_operator import keys
from devskyy_operator.crd.conditions import WAITING_PHASES
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import Gone, api_error

log = logging.getLogger("devskyy.bridge")

LIST_PAGE = 500
RELIST_SECONDS = 300.0  # a full relist now and then heals any drift of the cache
GONE_MEMORY = 10_000  # deleted uids remembered, so a late create response stays dead


@dataclass(frozen=True)
class CachedTask:
    name: str
    uid: str
    task_type: str
    phase: str | None

    @property
    def waiting(self) -> bool:
        """Not admitted yet: no phase (operator has not seen it) or Queued."""
        return self.phase in WAITING_PHASES


def cached_task(obj: Mapping[str, Any]) -> CachedTask:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    spec: Mapping[str, Any] = obj.get("spec") or {}
    phase = (obj.get("status") or {}).get("phase")
    return CachedTask(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        task_type=str(spec.get("type", "")),
        phase=phase if isinstance(phase, str) else None,
    )


class TaskCache:
    """The cache itself, without I/O: what the watch delivered, plus our own creates.

    resourceVersions are opaque strings (the API contract forbids ordering by
    them), so nothing here compares them. Order comes from the watch itself: its
    events arrive in the server's order and always apply. A create response
    (`observe`) is the first version of its object, so it never replaces what
    the watch already delivered for the same uid, nor resurrects a uid the watch
    saw deleted.
    """

    def __init__(self) -> None:
        self.tasks: dict[str, CachedTask] = {}
        self._waiting: dict[str, set[str]] = {}  # type -> names not admitted yet
        self._gone: dict[str, None] = {}  # uids the watch saw deleted, oldest first
        self.changed = asyncio.Event()  # a CR left the window (or anything moved)

    def waiting(self, task_type: str) -> int:
        return len(self._waiting.get(task_type, ()))

    def has(self, name: str) -> bool:
        return name in self.tasks

    def _put(self, task: CachedTask) -> None:
        self._drop(task.name)
        self.tasks[task.name] = task
        if task.waiting:
            self._waiting.setdefault(task.task_type, set()).add(task.name)
        self.changed.set()

    def _drop(self, name: str) -> CachedTask | None:
        old = self.tasks.pop(name, None)
        if old is not None:
            self._waiting.get(old.task_type, set()).discard(name)
        return old

    def observe(self, created: Mapping[str, Any]) -> None:
        """Count a CR we just created, unless the watch already told us about it."""
        task = cached_task(created)
        current = self.tasks.get(task.name)
        if (current is not None and current.uid == task.uid) or task.uid in self._gone:
            return
        self._put(task)

    def forget(self, name: str) -> None:
        if self._drop(name) is not None:
            self.changed.set()

    def replace_all(self, tasks: list[CachedTask]) -> None:
        """A fresh list: it is the whole truth at its resourceVersion."""
        self.tasks, self._waiting = {}, {}
        for task in tasks:
            self._put(task)
        self.changed.set()

    def apply(self, kind: str, obj: Mapping[str, Any]) -> None:
        """One watch event, in the watch's order: the newest word on its object."""
        if kind == "DELETED":
            task = cached_task(obj)
            self._gone[task.uid] = None
            if len(self._gone) > GONE_MEMORY:
                del self._gone[next(iter(self._gone))]
            current = self.tasks.get(task.name)
            if current is not None and current.uid == task.uid:
                self.forget(task.name)
        elif kind in ("ADDED", "MODIFIED"):
            self._put(cached_task(obj))


class TaskInformer(TaskCache):
    """List + watch of devskyytasks; `synced` is set once the first list landed."""

    def __init__(self, kube: KubeClient, namespace: str, watch_timeout: int) -> None:
        super().__init__()
        self.kube = kube
        self.path = resource_path(keys.API_VERSION, keys.PLURAL, namespace)
        self.watch_timeout = watch_timeout
        self.synced = asyncio.Event()
        self._resource_version = ""  # where the watch resumes: opaque, never compared
        self._listed_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the cache current until `stop`; never raises (errors mean relist)."""
        backoff = 0.2
        while not stop.is_set():
            try:
                if (
                    not self._resource_version
                    or self._listed_at + RELIST_SECONDS < time.monotonic()
                ):
                    await self._relist()
                await self._watch(stop)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Gone:
                log.info("task watch expired (410); relisting")
                self._resource_version = ""
            except Exception as exc:
                log.warning("task watch failed (%s); relisting in %.1fs", exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
                self._resource_version = ""

    async def _relist(self) -> None:
        fresh: list[CachedTask] = []
        query: dict[str, str | int] = {"limit": LIST_PAGE}
        while True:
            page = await self.kube.get(self.path, query)
            fresh.extend(cached_task(item) for item in page.get("items") or [])
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                self._resource_version = str(meta.get("resourceVersion") or "")
                break
            query["continue"] = meta["continue"]
        self._listed_at = time.monotonic()
        self.replace_all(fresh)
        self.synced.set()

    async def _watch(self, stop: asyncio.Event) -> None:
        events = self.kube.watch(self.path, self._resource_version, self.watch_timeout)
        try:
            async for event in events:
                if stop.is_set():
                    return
                self._apply(event)
        finally:
            await cast(AsyncGenerator[Any, None], events).aclose()

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            raise api_error(int(obj.get("code") or 500), obj, "WATCH", self.path)
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:  # every event, bookmarks included, moves the resume point
            self._resource_version = str(version)
        self.apply(str(kind), obj)

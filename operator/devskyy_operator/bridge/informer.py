"""An in-memory cache of DevSkyyTasks in one namespace: list once, then watch.

The bridge asks it "how many CRs of this type wait for admission?" every cycle;
answering from a cache keeps that O(1) in API calls however many tasks exist.
A watch that ends is resumed from the last resourceVersion; 410 Gone (or any
error) means relist. The bridge also feeds its own create responses in
(`observe`), so a CR counts at once rather than when its watch event arrives.
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


@dataclass(frozen=True)
class CachedTask:
    name: str
    task_type: str
    phase: str | None
    resource_version: str

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
        task_type=str(spec.get("type", "")),
        phase=phase if isinstance(phase, str) else None,
        resource_version=str(meta.get("resourceVersion") or ""),
    )


def _newer(candidate: str, current: str) -> bool:
    """etcd resourceVersions are integers; compare them when both parse, else trust order."""
    try:
        return int(candidate) >= int(current)
    except ValueError:
        return True


class TaskInformer:
    """List + watch of devskyytasks; `synced` is set once the first list landed."""

    def __init__(self, kube: KubeClient, namespace: str, watch_timeout: int) -> None:
        self.kube = kube
        self.path = resource_path(keys.API_VERSION, keys.PLURAL, namespace)
        self.watch_timeout = watch_timeout
        self.tasks: dict[str, CachedTask] = {}
        self._waiting: dict[str, set[str]] = {}  # type -> names not admitted yet
        self.synced = asyncio.Event()
        self.changed = asyncio.Event()  # a CR left the window (or anything moved)
        self._resource_version = ""
        self._listed_at = 0.0

    def waiting(self, task_type: str) -> int:
        return len(self._waiting.get(task_type, ()))

    def _put(self, task: CachedTask) -> None:
        self._drop(task.name)
        self.tasks[task.name] = task
        if task.waiting:
            self._waiting.setdefault(task.task_type, set()).add(task.name)

    def _drop(self, name: str) -> CachedTask | None:
        old = self.tasks.pop(name, None)
        if old is not None:
            self._waiting.get(old.task_type, set()).discard(name)
        return old

    def has(self, name: str) -> bool:
        return name in self.tasks

    def observe(self, obj: Mapping[str, Any]) -> None:
        """Upsert unless the cache already holds a newer version of the object."""
        task = cached_task(obj)
        current = self.tasks.get(task.name)
        if current is None or _newer(task.resource_version, current.resource_version):
            self._put(task)
            self.changed.set()

    def forget(self, name: str) -> None:
        if self._drop(name) is not None:
            self.changed.set()

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
            for item in page.get("items") or []:
                fresh.append(cached_task(item))
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                self._resource_version = str(meta.get("resourceVersion") or "")
                break
            query["continue"] = meta["continue"]
        self._listed_at = time.monotonic()
        self.tasks, self._waiting = {}, {}
        for task in fresh:
            self._put(task)
        self.synced.set()
        self.changed.set()

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
        meta = obj.get("metadata") or {}
        if meta.get("resourceVersion"):
            self._resource_version = str(meta["resourceVersion"])
        if kind == "DELETED":
            self.forget(str(meta.get("name", "")))
        elif kind in ("ADDED", "MODIFIED"):
            self.observe(obj)

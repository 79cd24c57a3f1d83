"""The bridge's task cache orders nothing by resourceVersion (opaque strings per the
API contract): watch events apply in the order they arrive, and a late create
response never overrides what the watch already said about the same object."""

from __future__ import annotations

from typing import Any

import pytest

from devskyy_operator.bridge.informer import TaskCache

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]


def task(uid: str, version: str, phase: str | None = None, name: str = "t-1") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": name, "uid": uid, "resourceVersion": version},
        "spec": {"type": "diagnostic"},
    }
    if phase:
        obj["status"] = {"phase": phase}
    return obj


def test_a_late_create_response_does_not_undo_a_watch_event() -> None:
    cache = TaskCache()
    cache.apply("ADDED", task("u1", "opaque-b"))
    cache.apply("MODIFIED", task("u1", "opaque-c", "Running"))
    cache.observe(task("u1", "opaque-b"))  # our own POST's answer, processed late
    assert cache.tasks["t-1"].phase == "Running"
    assert cache.waiting("diagnostic") == 0


def test_watch_events_apply_in_arrival_order_whatever_their_versions() -> None:
    """A version that would sort lower (as an integer or as text) still comes later."""
    cache = TaskCache()
    cache.observe(task("u1", "10"))
    assert cache.waiting("diagnostic") == 1
    cache.apply("MODIFIED", task("u1", "9", "Running"))
    assert cache.tasks["t-1"].phase == "Running"
    assert cache.waiting("diagnostic") == 0


def test_a_create_response_counts_at_once() -> None:
    cache = TaskCache()
    cache.observe(task("u1", "x"))
    assert cache.has("t-1")
    assert cache.waiting("diagnostic") == 1
    assert cache.changed.is_set()


def test_a_deleted_object_is_not_brought_back_by_its_create_response() -> None:
    cache = TaskCache()
    cache.apply("ADDED", task("u1", "a"))
    cache.apply("DELETED", task("u1", "b"))
    cache.observe(task("u1", "a"))
    assert not cache.has("t-1")
    assert cache.waiting("diagnostic") == 0


def test_a_recreated_name_keeps_the_new_object() -> None:
    """The old object's DELETED arrives after our create of the new one: the new one stays."""
    cache = TaskCache()
    cache.apply("ADDED", task("old", "a", "Running"))
    cache.observe(task("new", "b"))
    assert cache.tasks["t-1"].uid == "new"
    cache.apply("DELETED", task("old", "c", "Running"))
    assert cache.tasks["t-1"].uid == "new"
    assert cache.waiting("diagnostic") == 1

"""kube/informer.py against the real apiserver: list, then watch; a relist tells
of what was deleted meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.informer import Informer, vanished
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def config_map(name: str, value: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {"informer-test": "yes"}},
        "data": {"value": value},
    }


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []  # (type, name, data value)

    def __call__(self, kind: str, obj: dict[str, Any]) -> None:
        value = (obj.get("data") or {}).get("value", "")
        self.events.append((kind, obj["metadata"]["name"], value))

    def of(self, name: str) -> list[tuple[str, str]]:
        return [(kind, value) for kind, n, value in self.events if n == name]


async def test_existing_objects_come_first_then_changes_in_order(
    kube: KubeClient, namespace: str
) -> None:
    path = resource_path("v1", "configmaps", namespace)
    await kube.create(path, config_map("before", "1"))
    await kube.create(path, config_map("other", "x", {"informer-test": "no"}))
    seen = Recorder()
    informer = Informer(
        kube, path, seen, timeout_seconds=30, name="test", labelSelector="informer-test=yes"
    )
    stop = asyncio.Event()
    running = asyncio.ensure_future(informer.run_until(stop))
    try:
        await asyncio.wait_for(informer.synced.wait(), 30)
        assert seen.of("before") == [("ADDED", "1")]
        await kube.patch(f"{path}/before", {"data": {"value": "2"}})
        await kube.create(path, config_map("after", "a"))
        await kube.delete(f"{path}/before")

        async def all_arrived() -> bool:
            return ("DELETED", "2") in seen.of("before") and bool(seen.of("after"))

        await eventually(all_arrived, timeout=30, what="the changes")
        assert seen.of("before") == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]
        assert seen.of("after") == [("ADDED", "a")]
        assert seen.of("other") == []  # the label selector is the server's
    finally:
        stop.set()
        await running


async def test_a_relist_reports_what_was_deleted_while_away(
    kube: KubeClient, namespace: str
) -> None:
    path = resource_path("v1", "configmaps", namespace)
    for name in ("kept", "gone"):
        await kube.create(path, config_map(name, name))
    seen = Recorder()
    informer = Informer(
        kube, path, seen, timeout_seconds=30, name="test", labelSelector="informer-test=yes"
    )
    await informer.relist()
    await kube.delete(f"{path}/gone")
    await informer.relist()  # as after 410 Gone: the DELETED event was never watched
    assert seen.of("gone") == [("ADDED", "gone"), ("DELETED", "")]
    assert seen.of("kept") == [("ADDED", "kept"), ("ADDED", "kept")]
    assert set(informer.known) == {(namespace, "kept")}


async def test_a_failing_handler_does_not_stop_the_stream(kube: KubeClient, namespace: str) -> None:
    path = resource_path("v1", "configmaps", namespace)
    await kube.create(path, config_map("bad", "1"))
    await kube.create(path, config_map("good", "1"))
    seen = Recorder()

    def handler(kind: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] == "bad":
            raise RuntimeError("boom")
        seen(kind, obj)

    informer = Informer(
        kube, path, handler, timeout_seconds=30, name="test", labelSelector="informer-test=yes"
    )
    await informer.relist()
    assert seen.of("good") == [("ADDED", "1")]
    assert (namespace, "bad") in informer.known


@pytest.mark.unit
def test_vanished_keeps_key_and_uid() -> None:
    known = {("ns", "a"): "uid-a", ("ns", "b"): "uid-b"}
    assert vanished(known, {("ns", "a")}) == [
        {"metadata": {"namespace": "ns", "name": "b", "uid": "uid-b"}}
    ]
    assert vanished(known, set(known)) == []

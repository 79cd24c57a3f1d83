"""The bridge's informer against the real API server: its watch decides, not versions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from devskyy_operator.bridge.informer import TaskInformer
from devskyy_operator.kube.client import KubeClient
from tests.support.tasks import diagnostic, tasks_path
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60), pytest.mark.usefixtures("devskyy_crd")]


@pytest_asyncio.fixture
async def informer(kube: KubeClient, namespace: str) -> AsyncIterator[TaskInformer]:
    # Watches end after 1 s, so every test also crosses several resumes.
    informer = TaskInformer(kube, namespace, watch_timeout=1)
    stop = asyncio.Event()
    watching = asyncio.ensure_future(informer.run(stop))
    await asyncio.wait_for(informer.synced.wait(), 10)
    yield informer
    stop.set()
    watching.cancel()
    await asyncio.gather(watching, return_exceptions=True)


async def test_a_late_create_response_does_not_undo_the_watch(
    kube: KubeClient, namespace: str, informer: TaskInformer
) -> None:
    created = await kube.create(tasks_path(namespace), diagnostic("late-answer"))
    await kube.patch(
        tasks_path(namespace, "late-answer") + "/status", {"status": {"phase": "Running"}}
    )

    async def running() -> bool:
        task = informer.tasks.get("late-answer")
        return task is not None and task.phase == "Running"

    await eventually(running, timeout=20, what="the watch to deliver phase Running")
    informer.observe(created)  # the bridge handles its POST's answer after the event
    assert informer.tasks["late-answer"].phase == "Running"
    assert informer.waiting("diagnostic") == 0


async def test_the_watch_resumes_and_sees_later_changes(
    kube: KubeClient, namespace: str, informer: TaskInformer
) -> None:
    await asyncio.sleep(1.5)  # let a watch end on the server's timeout and resume
    await kube.create(tasks_path(namespace), diagnostic("after-resume"))

    async def waiting() -> bool:
        return informer.waiting("diagnostic") == 1

    await eventually(waiting, timeout=20, what="the resumed watch to see the new task")
    await kube.delete(tasks_path(namespace, "after-resume"))

    async def gone() -> bool:
        return not informer.has("after-resume")

    await eventually(gone, timeout=20, what="the resumed watch to see the deletion")

"""The task CRD's CEL rules on the real apiserver: enforced on create, free on update.

Every rule below the immutable spec (and the name rule) is `oldSelf.hasValue() ||
(...)` under optionalOldSelf (crd/rules.py `on_create`): a create runs it, a
status write stops at the guard. These check that the guard keeps every refusal
of a create, lets status writes through, leaves the spec immutable, and keeps a
task created under a looser CRD writable once the CRD tightens (a rule reading
oldSelf is not ratcheted by the apiserver, so without the guard a tightened root
rule would refuse every status write of such a task).

A private control plane without a node: the last test changes the CRD, which the
suite's shared cluster must not see.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest
import pytest_asyncio

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.crd import definition
from devskyy_operator.crd.manifest import render_yaml
from devskyy_operator.crd.rules import NAME_RULE, default_maxima
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import Invalid
from devskyy_operator.settings import ResourceDefaults
from tests.support.cluster import kubectl
from tests.support.operator_process import CRD_FILE, WORKFLOW_CRD_FILE
from tests.support.schedules import SCHEDULE_CRD_FILE, schedule_body, schedules_path
from tests.support.tasks import create_task, diagnostic, get_task, task_body, tasks_path
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

IMMUTABLE = "spec is immutable; delete and re-create the task"
STATUS = {"phase": "Queued", "reason": "Waiting", "attempts": 0}


@pytest.fixture(scope="module")
def api_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("crd-updates"), node=False) as cluster:
        for path in (WORKFLOW_CRD_FILE, SCHEDULE_CRD_FILE, CRD_FILE):
            apply_crd(cluster, path.read_text())
        yield cluster


@pytest_asyncio.fixture(scope="module")
async def api(api_only: LocalCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_env(str(api_only.kubeconfig)) as client:
        yield client


@pytest_asyncio.fixture
async def ns(api: KubeClient) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    await api.create(resource_path("v1", "namespaces"), body)
    return name


def apply_crd(cluster: LocalCluster, manifest: str) -> None:
    applied = kubectl(
        cluster, "apply", "--server-side", "--force-conflicts", "-o", "name", "-f", "-",
        input_text=manifest,
    )  # fmt: skip
    kubectl(cluster, "wait", "--for=condition=Established", applied.stdout.strip(), "--timeout=60s")


async def refusal(api: KubeClient, namespace: str, body: Mapping[str, Any]) -> str | None:
    """What the apiserver says to a create of `body` (dry run): None when it accepts it."""
    try:
        await api.request("POST", tasks_path(namespace), body=body, params={"dryRun": "All"})
    except Invalid as refused:
        return refused.message
    return None


def cpu(name: str, amount: str) -> dict[str, Any]:
    body = diagnostic(name)
    body["spec"]["resources"] = {"requests": {"cpu": amount}}
    return body


REFUSED_ON_CREATE = [
    (diagnostic("Not_A_Task_Id"), NAME_RULE["message"]),
    (diagnostic("a" * 53), NAME_RULE["message"]),
    (cpu("huge-cpu", "1000000"), "must be at most 4 for type diagnostic"),  # messageExpression
    (
        task_body("http-image", "generate_3d", {"user_id": "a", "image_url": "http://x.example"}),
        "must be an absolute https:// URL",
    ),
    (
        task_body("no-path", "ml_training", {"user_id": "a", "model_id": "trend_predictor"}),
        "type ml_training requires input fields: model_id, training_data_path",
    ),
    ({**diagnostic("bad-cache"), "spec": {**diagnostic("x")["spec"],
      "cache": {"enabled": False, "ttlSeconds": 60}}}, "ttlSeconds applies only when enabled"),
]  # fmt: skip


_IDS = [body["metadata"]["name"][:9] for body, _ in REFUSED_ON_CREATE]


@pytest.mark.parametrize(("body", "why"), REFUSED_ON_CREATE, ids=_IDS)
async def test_an_invalid_spec_is_refused_on_create(
    api: KubeClient, ns: str, body: dict[str, Any], why: str
) -> None:
    with pytest.raises(Invalid) as caught:
        await create_task(api, ns, body)
    assert why in caught.value.message, caught.value.message
    assert await api.list(tasks_path(ns)) == []


async def test_a_valid_task_takes_status_writes_and_refuses_spec_changes(
    api: KubeClient, ns: str
) -> None:
    await create_task(api, ns, diagnostic("fine", priority=5))
    for attempts in range(3):
        status = {**STATUS, "attempts": attempts}
        written = await api.patch(tasks_path(ns, "fine") + "/status", {"status": status})
        assert written["status"] == status
    for change in ({"priority": 999}, {"input": {"user_id": "a", "exit_code": 7}}):
        with pytest.raises(Invalid) as caught:
            await api.patch(tasks_path(ns, "fine"), {"spec": change})
        assert IMMUTABLE in caught.value.message
    # A change that a create-only rule would refuse is refused all the same.
    too_big = {"spec": {"resources": {"requests": {"cpu": "99"}}}}
    with pytest.raises(Invalid) as caught:
        await api.patch(tasks_path(ns, "fine"), too_big)
    assert IMMUTABLE in caught.value.message
    assert (await get_task(api, ns, "fine"))["spec"]["priority"] == 5


def looser_crd() -> str:
    """The task CRD of an earlier release: diagnostic tasks may ask for 16 CPUs
    (now 4), and no name rule (so "was.fine", a valid object name, is allowed)."""
    maxima: dict[str, ResourceDefaults] = dict(default_maxima())
    maxima["diagnostic"] = maxima["diagnostic"].model_copy(update={"cpu_max": "16"})
    crd = definition.build_crd(maxima)
    del crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
    return render_yaml(crd, "")


async def test_a_task_created_under_a_looser_crd_keeps_its_status_writable(
    api_only: LocalCluster, api: KubeClient, ns: str
) -> None:
    old = cpu("was.fine", "8")
    apply_crd(api_only, looser_crd())

    async def loosened() -> bool:
        return await refusal(api, ns, old) is None

    await eventually(loosened, timeout=30, what="the looser CRD in force")
    await create_task(api, ns, old)
    apply_crd(api_only, CRD_FILE.read_text())

    async def tightened() -> str | None:
        return await refusal(api, ns, cpu("now.too.big", "8"))

    message = await eventually(tightened, timeout=30, what="the committed CRD in force")
    assert NAME_RULE["message"] in message
    assert "must be at most 4 for type diagnostic" in message
    written = await api.patch(tasks_path(ns, "was.fine") + "/status", {"status": STATUS})
    assert written["status"] == STATUS
    with pytest.raises(Invalid) as caught:
        await api.patch(tasks_path(ns, "was.fine"), {"spec": {"priority": 1}})
    assert IMMUTABLE in caught.value.message


# ------------------------------------------------ the workflow and schedule CRDs


def workflow(name: str, *steps: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": keys.API_VERSION,
        "kind": keys.WORKFLOW_KIND,
        "metadata": {"name": name},
        "spec": {"steps": list(steps)},
    }


def workflows_path(namespace: str, name: str | None = None) -> str:
    return resource_path(keys.API_VERSION, keys.WORKFLOW_PLURAL, namespace, name)


STEP = {"name": "one", "task": {"type": "diagnostic", "input": {"user_id": "ada"}}}
TRAINING_WITHOUT_DATA = {
    "type": "ml_training",
    "input": {"user_id": "a", "model_id": "trend_predictor"},
}
NEEDS_DATA = "type ml_training requires input fields: model_id, training_data_path"


async def test_workflow_steps_are_checked_on_create_and_stay_immutable(
    api: KubeClient, ns: str
) -> None:
    """The steps (immutable, a map by name) and the name: their rules on create only."""
    with pytest.raises(Invalid) as caught:
        await api.create(
            workflows_path(ns), workflow("wf-bad", {"name": "t", "task": TRAINING_WITHOUT_DATA})
        )
    assert NEEDS_DATA in caught.value.message
    with pytest.raises(Invalid) as caught:
        await api.create(workflows_path(ns), workflow("w" * 32, STEP))
    assert "metadata.name must be lowercase letters" in caught.value.message
    await api.create(workflows_path(ns), workflow("wf", STEP))
    status = {"phase": "Running", "progress": "0/1", "succeeded": 0, "total": 1}
    written = await api.patch(workflows_path(ns, "wf") + "/status", {"status": status})
    assert written["status"] == status
    with pytest.raises(Invalid) as caught:
        await api.patch(workflows_path(ns, "wf"), {"spec": {"steps": [{**STEP, "name": "two"}]}})
    assert "steps are immutable" in caught.value.message
    assert (await api.patch(workflows_path(ns, "wf"), {"spec": {"cancel": True}}))["spec"]["cancel"]


async def test_a_schedules_template_is_checked_on_every_update(api: KubeClient, ns: str) -> None:
    """A template may change, so its rules are not create-only: a bad one is refused."""
    await api.create(schedules_path(ns), schedule_body("nightly", "@daily", {}))
    with pytest.raises(Invalid) as caught:
        await api.patch(
            schedules_path(ns, "nightly"), {"spec": {"template": {"spec": TRAINING_WITHOUT_DATA}}}
        )
    assert NEEDS_DATA in caught.value.message
    stamp = {"lastScheduleTime": "2026-01-01T00:00:00Z"}
    written = await api.patch(schedules_path(ns, "nightly", "status"), {"status": stamp})
    assert written["status"] == stamp

"""The queue-wait estimate honours the configured throughput window end to end.

The operator records each completion in `devskyy:completions:<type>` and prunes
what has left the window; the API divides the completions in the window by the
same window. Both must read the one setting: with the writers pruning at a
hard-coded 600 s, an 1,800 s window counted only the last 10 minutes and every
estimate came out up to 3x too long (issue #13).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient
from tests.api.conftest import app_client, auth, settings_for
from tests.support.operator_process import running_operator
from tests.support.tasks import create_task, diagnostic, wait_phase

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180), pytest.mark.usefixtures("devskyy_crd")]

WINDOW_SECONDS = 1800.0


async def test_completions_of_the_whole_window_count_in_the_estimate(
    kube: KubeClient,
    namespace: str,
    redis_url: str,
    redis_client: redis.Redis,
    cluster: LocalCluster,
    tmp_path: Path,
) -> None:
    # Three tasks finished 25, 20 and 15 minutes ago: inside the 30-minute window.
    now = time.time()
    earlier = {f"earlier-{age}": now - age for age in (1500, 1200, 900)}
    redis_client.zadd(keys.completions_key("diagnostic"), earlier)
    extra = {"DEVSKYY_THROUGHPUT_WINDOW_SECONDS": str(WINDOW_SECONDS)}
    with running_operator(cluster, namespace, redis_url, tmp_path, extra):
        await create_task(kube, namespace, diagnostic("finished-now"))
        task = await wait_phase(kube, namespace, "finished-now", "Succeeded", "Failed")
    assert task["status"]["phase"] == "Succeeded", task["status"]
    in_window = redis_client.zcount(
        keys.completions_key("diagnostic"), now - WINDOW_SECONDS, "+inf"
    )
    assert in_window == 4, "the operator's completion write pruned completions inside the window"

    settings = settings_for(redis_url, throughput_window_seconds=WINDOW_SECONDS)
    async with app_client(settings) as api:
        body = {"type": "diagnostic", "input": {"user_id": "alice"}}
        queued = (await api.post("/v1/tasks", json=body, headers=auth("alice"))).json()
        view = (await api.get(f"/v1/tasks/{queued['id']}", headers=auth("alice"))).json()
    # First in line, 4 completions per 1,800 s: one completion every 450 s.
    assert view["queue"]["position"] == 0
    assert view["queue"]["estimated_wait_seconds"] == pytest.approx(WINDOW_SECONDS / 4, rel=0.01)

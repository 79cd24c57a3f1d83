"""The autoscaling examples as shipped: the ML-pool values put node selectors and
tolerations on ML Jobs that the real apiserver accepts, and the HPA on the ready
backlog (with its placeholder Deployment and PriorityClass) passes a server-side
dry run in a namespace enforcing Pod Security "restricted"."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.job.builder import build_job
from devskyy_operator.metrics import READY_BACKLOG
from devskyy_operator.settings import Settings
from tests.support.cluster import kubectl
from tests.unit.factories import T0, view

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "autoscaling"
HPA_EXAMPLE = EXAMPLES / "hpa-ml-headroom.yaml"
POOL_VALUES = EXAMPLES / "values-ml-pool.yaml"


def _docs() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(HPA_EXAMPLE.read_text()) if d}


def _pool_settings() -> Settings:
    """The Settings the chart renders from values-ml-pool.yaml (taskTypes.<type>.*)."""
    types = yaml.safe_load(POOL_VALUES.read_text())["taskTypes"]
    return Settings(
        scheduling={
            name: {"node_selector": t["nodeSelector"], "tolerations": t["tolerations"]}
            for name, t in types.items()
        }
    )


@pytest.mark.unit
@pytest.mark.timeout(30)
def test_the_hpa_reads_the_operators_gauge_and_fits_the_pool() -> None:
    docs = _docs()
    (metric,) = docs["HorizontalPodAutoscaler"]["spec"]["metrics"]
    (family,) = READY_BACKLOG.describe()
    assert metric["external"]["metric"]["name"] == family.name
    assert set(metric["external"]["metric"]["selector"]["matchLabels"]) == set(
        READY_BACKLOG._labelnames
    )
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    ml = _pool_settings().scheduling_for("ml_training").pod_fields()
    assert pod["nodeSelector"] == ml["nodeSelector"]
    assert pod["tolerations"] == ml["tolerations"]
    requests = pod["containers"][0]["resources"]["requests"]
    defaults = Settings().resources_for("ml_training")
    assert (requests["cpu"], requests["memory"]) == (defaults.cpu_request, defaults.memory_request)
    assert pod["priorityClassName"] == docs["PriorityClass"]["metadata"]["name"]
    assert docs["PriorityClass"]["value"] < 0


@pytest.fixture(scope="module")
def restricted_namespace(cluster: LocalCluster) -> Iterator[str]:
    name = f"autoscale-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/warn": "restricted",
            },
        },
    }
    kubectl(cluster, "apply", "-f", "-", input_text=yaml.safe_dump(body))
    yield name
    kubectl(cluster, "delete", "namespace", name, "--wait=false", check=False)


def _dry_run(cluster: LocalCluster, namespace: str, manifest: str) -> list[str]:
    done = kubectl(
        cluster, "apply", "--server-side", "--dry-run=server", "-n", namespace,
        "-o", "json", "-f", "-", input_text=manifest, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr  # PodSecurity warns before it refuses
    return [done.stdout]


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_the_hpa_example_passes_a_server_dry_run(
    cluster: LocalCluster, restricted_namespace: str
) -> None:
    (out,) = _dry_run(cluster, restricted_namespace, HPA_EXAMPLE.read_text())
    returned = json.loads(out)
    items = returned["items"] if returned.get("kind") == "List" else [returned]
    assert sorted(i["kind"] for i in items) == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "PriorityClass",
    ]
    hpa = next(i for i in items if i["kind"] == "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == "devskyy_ready_backlog"


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_ml_jobs_carry_the_pools_selector_and_tolerations(
    cluster: LocalCluster, restricted_namespace: str
) -> None:
    job = build_job(view("ml-pool-1", "ml_training"), _pool_settings(), T0)
    job["metadata"]["namespace"] = restricted_namespace
    job["metadata"].pop("ownerReferences")  # no owning CR in this namespace
    (out,) = _dry_run(cluster, restricted_namespace, json.dumps(job))
    pod = json.loads(out)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"devskyy.io/pool": "ml"}
    assert pod["tolerations"] == [
        {"key": "devskyy.io/pool", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
    ]

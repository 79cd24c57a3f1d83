"""build_job: the Job contract of DESIGN.md and Pod Security "restricted"."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from devskyy_agents import task_env
from devskyy_agents.errors import PERMANENT_EXIT_CODE
from devskyy_agents.ledger import Ledger
from devskyy_agents.models import MAX_INPUT_BYTES, parse_spec, serialized_input
from devskyy_agents.registry import RunContext
from devskyy_operator import keys
from devskyy_operator.job.builder import build_job, label_value
from devskyy_operator.job.resources import container_resources, parse_quantity
from devskyy_operator.settings import ResourceDefaults, Settings
from tests.unit.factories import INPUTS, T0, view

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

SETTINGS = Settings(
    task_secret_name="task-secrets",
    task_config_map="task-config",
    task_service_account="devskyy-task",
    datasets_claim="datasets",
    models_claim="models",
)
_RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def _container(job: dict[str, Any]) -> dict[str, Any]:
    containers = job["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def _env(job: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in _container(job)["env"]}


def assert_restricted(pod: dict[str, Any]) -> None:
    """The checks of Pod Security Standards "restricted" that a manifest shows statically."""
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(flag, False)
    pod_sc = pod.get("securityContext", {})
    assert pod_sc.get("seccompProfile", {}).get("type") in ("RuntimeDefault", "Localhost")
    assert pod_sc.get("runAsUser", 1) != 0
    assert "sysctls" not in pod_sc
    assert pod_sc.get("seLinuxOptions", {}).get("type") in (None, "", "container_t")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        assert kinds <= _RESTRICTED_VOLUMES, kinds
    for container in pod.get("initContainers", []) + pod["containers"]:
        sc = container.get("securityContext", {})
        assert sc.get("privileged", False) is False
        assert sc.get("allowPrivilegeEscalation") is False
        assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True
        assert sc.get("runAsUser", 1) != 0
        assert sc.get("capabilities", {}).get("drop") == ["ALL"]
        assert set(sc.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}
        assert sc.get("procMount", "Default") == "Default"
        assert "seccompProfile" not in sc or sc["seccompProfile"]["type"] != "Unconfined"
        assert all("hostPort" not in p for p in container.get("ports", []))


@pytest.mark.parametrize("task_type", sorted(INPUTS))
def test_every_type_is_restricted_and_hardened(task_type: str) -> None:
    job = build_job(view("t-1", task_type), SETTINGS, T0)
    pod = job["spec"]["template"]["spec"]
    assert_restricted(pod)
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["serviceAccountName"] == "devskyy-task"
    assert pod["securityContext"]["runAsUser"] == SETTINGS.task_run_as_user
    container = _container(job)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # Kubernetes' defaults (/dev/termination-log, File) are where the entrypoint writes.
    assert "terminationMessagePath" not in container
    assert task_env.TERMINATION_LOG_PATH == "/dev/termination-log"
    assert container["image"] == SETTINGS.image_for(task_type)
    assert container["command"] == SETTINGS.task_command
    assert "ttlSecondsAfterFinished" not in job["spec"]


def test_job_identity_labels_and_owner() -> None:
    task = view("t-1", "ml_training")
    job = build_job(task, SETTINGS, T0)
    meta = job["metadata"]
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert (meta["name"], meta["namespace"]) == ("t-1", "tasks")
    expected = {
        keys.LABEL_TASK_ID: "t-1",
        keys.LABEL_TASK_TYPE: "ml_training",
        keys.LABEL_USER: "alice",
        keys.LABEL_MANAGED_BY: keys.MANAGED_BY,
    }
    assert meta["labels"] == expected
    assert job["spec"]["template"]["metadata"]["labels"] == expected
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "devskyy.io/v1alpha1",
            "kind": "DevSkyyTask",
            "name": "t-1",
            "uid": "uid-t-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_retries_timeout_and_failure_policy() -> None:
    defaults = build_job(view("t-1", "generate_3d"), SETTINGS, T0)["spec"]
    assert (defaults["backoffLimit"], defaults["activeDeadlineSeconds"]) == (3, 600)
    own = build_job(view("t-2", retries=0, timeoutSeconds=42), SETTINGS, T0)["spec"]
    assert (own["backoffLimit"], own["activeDeadlineSeconds"]) == (0, 42)
    assert own["podReplacementPolicy"] == "Failed"
    rules = own["podFailurePolicy"]["rules"]
    assert {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    } in rules
    fail = next(r for r in rules if r["action"] == "FailJob")
    assert fail["onExitCodes"] == {
        "containerName": "task",
        "operator": "In",
        "values": [PERMANENT_EXIT_CODE],
    }


def test_spec_reaches_the_pod_as_a_downward_api_file() -> None:
    """No environment variable holds the spec (Linux caps one at 128 KiB)."""
    task = view("t-1", "generate_3d", priority=7)
    job = build_job(task, SETTINGS, T0)
    env = _env(job)
    assert "DEVSKYY_TASK_SPEC" not in env
    template = job["spec"]["template"]
    spec = template["metadata"]["annotations"][keys.ANNOTATION_TASK_SPEC]
    assert parse_spec(json.loads(spec)) == task.spec
    assert spec.startswith('{"input":{"prompt":"a black hoodie","user_id"')
    assert ", " not in spec
    assert "null" not in spec
    assert "DEVSKYY_TASK_SPEC_FILE" not in env  # the entrypoint's default path
    directory, name = task_env.SPEC_FILE_PATH.rsplit("/", 1)
    mount = _mounts(job)[directory]
    assert mount["readOnly"] is True
    assert mount["volume"]["downwardAPI"]["items"] == [
        {
            "path": name,
            "fieldRef": {"fieldPath": f"metadata.annotations['{keys.ANNOTATION_TASK_SPEC}']"},
        }
    ]


def test_the_largest_accepted_spec_fits_the_annotation_limit() -> None:
    """All annotations of an object may hold 256 KiB; the largest input any door
    accepts, with every other spec field at its largest, stays far below."""
    envelope = len(serialized_input({"user_id": "alice", "result": {"x": ""}}))
    filler = "x" * (MAX_INPUT_BYTES - envelope)
    task = view(
        "t-" + "a" * 50, input={"user_id": "alice", "result": {"x": filler}}, priority=1000,
        retries=10, timeoutSeconds=86_400,
        resources={part: {"cpu": "1.125", "memory": "999Mi", "ephemeralStorage": "999Mi"}
                   for part in ("requests", "limits")},
    )  # fmt: skip
    assert len(serialized_input(task.spec.input)) == MAX_INPUT_BYTES
    annotations = build_job(task, SETTINGS, T0)["spec"]["template"]["metadata"]["annotations"]
    total = sum(len(k) + len(v.encode()) for k, v in annotations.items())
    assert MAX_INPUT_BYTES < total < MAX_INPUT_BYTES + 1024
    assert total * 3.9 < 256 * 1024  # close to a 4x margin


def test_env_carries_the_deadline_and_secrets_by_reference() -> None:
    task = view("t-1", "generate_3d", priority=7)
    job = build_job(task, SETTINGS, T0)
    env = _env(job)
    assert env["DEVSKYY_TASK_ID"] == "t-1"
    assert env["DEVSKYY_TASK_TYPE"] == "generate_3d"
    # Later than activeDeadlineSeconds: the Job controller's DeadlineExceeded wins.
    assert int(env["DEVSKYY_TASK_DEADLINE"]) == int(T0.timestamp()) + 600 + 15
    assert env["DEVSKYY_TASK_RETRIES"] == "3"  # the seed's generate_3d default = backoffLimit
    assert env["DEVSKYY_TASK_RETRIES"] == str(job["spec"]["backoffLimit"])
    assert env["WORKER_THREADS"] == str(SETTINGS.task_threads)
    assert "LOG_FORMAT" not in env  # "text", the entrypoint's default
    assert _env(build_job(task, Settings(log_format="json"), T0))["LOG_FORMAT"] == "json"
    assert _container(job)["envFrom"] == [
        {"secretRef": {"name": "task-secrets", "optional": True}},
        {"configMapRef": {"name": "task-config", "optional": True}},
    ]
    bare = build_job(task, Settings(), T0)
    assert "envFrom" not in _container(bare)
    assert "serviceAccountName" not in bare["spec"]["template"]["spec"]


@pytest.mark.parametrize("task_type", sorted(INPUTS))
def test_the_entrypoint_defaults_point_at_the_jobs_mounts(task_type: str) -> None:
    """The Job leaves the paths to the entrypoint's defaults: what the task
    process resolves from the Job's env is what the Job mounts."""
    job = build_job(view("t-1", task_type), SETTINGS, T0)
    ctx = RunContext.from_env(_env(job), None, Ledger.in_memory())
    mounts = _mounts(job)
    assert f"{ctx.artifacts_dir}/t-1" in mounts
    assert task_env.SPEC_FILE_PATH.rsplit("/", 1)[0] in mounts
    if task_type in ("ml_training", "ml_prediction"):
        assert str(ctx.datasets_dir) in mounts
        assert str(ctx.models_dir) in mounts
    assert ctx.threads == SETTINGS.task_threads


def _mounts(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    return {
        m["mountPath"]: {**m, "volume": volumes[m["name"]]} for m in _container(job)["volumeMounts"]
    }


def test_volumes_per_type() -> None:
    plain = _mounts(build_job(view("t-1", "generate_3d"), SETTINGS, T0))
    assert set(plain) == {"/tmp", "/data/artifacts/t-1", "/data/task"}
    assert "emptyDir" in plain["/tmp"]["volume"]
    train = _mounts(build_job(view("t-2", "ml_training"), SETTINGS, T0))
    assert train["/data/datasets"]["readOnly"] is True
    assert train["/data/datasets"]["volume"]["persistentVolumeClaim"]["claimName"] == "datasets"
    assert not train["/data/models"].get("readOnly", False)
    predict = _mounts(build_job(view("t-3", "ml_prediction"), SETTINGS, T0))
    assert predict["/data/models"]["readOnly"] is True
    unclaimed = _mounts(build_job(view("t-4", "ml_training"), Settings(), T0))
    assert "emptyDir" in unclaimed["/data/models"]["volume"]
    assert "emptyDir" in unclaimed["/data/datasets"]["volume"]
    claimed = _mounts(build_job(view("t-5"), Settings(artifacts_claim="art"), T0))
    assert claimed["/data/artifacts/t-5"]["volume"]["persistentVolumeClaim"]["claimName"] == "art"


def test_a_pod_sees_only_its_own_task_directory_of_the_artifacts_volume() -> None:
    """subPath = task id: the ledger of one task is out of reach of every other task."""
    for settings, persistent in ((Settings(artifacts_claim="art"), "true"), (Settings(), None)):
        job = build_job(view("t-6"), settings, T0)
        mount = _mounts(job)["/data/artifacts/t-6"]
        assert mount["subPath"] == "t-6"
        assert not mount.get("readOnly", False)
        others = [m for m in _container(job)["volumeMounts"] if m["name"] != "artifacts"]
        assert all("subPath" not in m for m in others)
        assert _env(job).get("DEVSKYY_ARTIFACTS_PERSISTENT") == persistent


def test_resources_override_type_defaults() -> None:
    task = view(
        "t-1", "ml_training", resources={"requests": {"cpu": "3"}, "limits": {"memory": "8Gi"}}
    )
    resources = _container(build_job(task, SETTINGS, T0))["resources"]
    defaults = SETTINGS.resources_for("ml_training")
    assert resources["requests"] == {
        "cpu": "3",
        "memory": defaults.memory_request,
        "ephemeral-storage": defaults.ephemeral_request,
    }
    # cpu request 3 > default limit 2: the limit follows the request.
    assert resources["limits"] == {
        "cpu": "3",
        "memory": "8Gi",
        "ephemeral-storage": defaults.ephemeral_limit,
    }


def test_explicit_limit_caps_request() -> None:
    spec = view("t-1", resources={"limits": {"memory": "64Mi"}}).spec
    got = container_resources(spec, ResourceDefaults(memory_request="256Mi"))
    assert got["requests"]["memory"] == got["limits"]["memory"] == "64Mi"


@pytest.mark.parametrize(
    ("text", "value"),
    [("250m", "0.25"), ("2", "2"), ("1.5", "1.5"), ("1Gi", str(2**30)), ("1G", "1e9")],
)
def test_parse_quantity(text: str, value: str) -> None:
    assert parse_quantity(text) == Decimal(value)


def test_parse_quantity_refuses_what_kubernetes_refuses() -> None:
    assert parse_quantity("1e3") == Decimal(1000)
    for text in ("lots", "1e", "200K", "Mi", "1,5", ""):
        assert parse_quantity(text) is None, text


@pytest.mark.parametrize(
    "user", ["alice", "bob@example.com", "x+y", "a" * 128, "a." + "b" * 100, "9"]
)
def test_label_value_is_valid(user: str) -> None:
    value = label_value(user)
    assert re.fullmatch(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?", value)
    assert len(value) <= 63
    assert value == user or len(user) > 63 or not re.fullmatch(r"[A-Za-z0-9._-]*", user)


def test_long_user_ids_do_not_collide() -> None:
    assert label_value("a" * 100 + "1") != label_value("a" * 100 + "2")


ML_POOL = {
    "node_selector": {"devskyy.io/pool": "ml"},
    "tolerations": [
        {"key": "devskyy.io/pool", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
        {"key": "gpu", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
    ],
}


def test_per_type_node_selector_and_tolerations() -> None:
    settings = Settings(scheduling={"ml_training": ML_POOL})
    pod = build_job(view("t-1", "ml_training"), settings, T0)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"devskyy.io/pool": "ml"}
    assert pod["tolerations"] == ML_POOL["tolerations"]  # Kubernetes field names, no nulls
    other = build_job(view("t-2", "generate_3d"), settings, T0)["spec"]["template"]["spec"]
    assert "nodeSelector" not in other
    assert "tolerations" not in other
    assert settings.scheduling_for("ml_prediction").pod_fields() == {}


@pytest.mark.parametrize(
    ("toleration", "message"),
    [
        ({"key": "k", "operator": "Exists", "value": "v"}, "takes no value"),
        ({"operator": "Equal", "value": "v"}, "needs operator Exists"),
        ({"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}, "NoExecute only"),
        ({"key": "k", "effect": "Sometimes"}, "effect"),
        ({"key": "k", "colour": "red"}, "colour"),
    ],
)
def test_tolerations_the_apiserver_would_refuse_are_refused_at_startup(
    toleration: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(scheduling={"ml_training": {"tolerations": [toleration]}})


def test_scheduling_of_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown task type"):
        Settings(scheduling={"gpu_training": {"node_selector": {"a": "b"}}})

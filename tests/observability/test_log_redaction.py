"""No secret reaches a log line, and task lines carry the task's identity.

Known secret values go through the logging setup of each component: message
arguments, exception tracebacks (chained too), echoed Authorization headers,
and the API's audit line for requests that carry a bearer token.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devskyy_agents.entrypoint import main as worker_main
from devskyy_agents.logs import configure_logging, task_context
from tests.api.live_server import TOKENS, api_tokens_setting
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

SECRETS = {
    "TRIPO_API_KEY": "tsk_live_7f3a9c1e5b",
    "OPENAI_API_KEY": "sk-proj-Qz81LmN0pR4sT7uV",
    "FASHN_API_KEY": "fa-0d9e8c7b6a",
}
BEARER = TOKENS["alice"]
# A component that holds a bearer token (CLI, bridge) has it in its environment.
ENV = {**SECRETS, "DEVSKYY_API_TOKEN": BEARER}
COMPONENTS = ("operator", "api", "bridge", "worker")


@pytest.fixture(autouse=True)
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def assert_clean(output: str) -> None:
    for name, secret in {**SECRETS, "bearer": BEARER}.items():
        assert secret not in output, f"{name} leaked into:\n{output}"


def emit_everything() -> None:
    log = logging.getLogger("devskyy.test")
    log.info("calling provider with key=%s and %r", SECRETS["TRIPO_API_KEY"], SECRETS)
    log.warning("request headers: {'Authorization': 'Bearer %s'}", BEARER)
    log.error("retrying: Authorization: Bearer %s", BEARER)
    try:
        try:
            raise ValueError(f"provider refused {SECRETS['OPENAI_API_KEY']}")
        except ValueError as inner:
            raise RuntimeError(f"upload failed for token {BEARER}") from inner
    except RuntimeError:
        log.exception("task failed with %s", SECRETS["FASHN_API_KEY"])


@pytest.mark.unit
@pytest.mark.timeout(10)
@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("component", COMPONENTS)
def test_configure_logging_masks_secrets(
    component: str, log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(component, environ={**ENV, "LOG_FORMAT": log_format})
    emit_everything()
    err = capsys.readouterr().err
    assert_clean(err)
    assert err.count("***") >= 6
    assert "Traceback" in err
    assert "upload failed" in err
    assert "provider refused" in err  # the chained cause is kept, masked
    if log_format == "json":
        lines = [json.loads(line) for line in err.splitlines()]
        assert [line["component"] for line in lines] == [component] * 4


@pytest.mark.unit
@pytest.mark.timeout(30)
def test_worker_json_lines_carry_the_task_and_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {"type": "diagnostic", "input": {"user_id": "carol", "exit_code": 7}}
    env = {
        **ENV,
        "LOG_FORMAT": "json",
        "DEVSKYY_TASK_ID": "task-logs1",
        "DEVSKYY_TASK_SPEC": json.dumps(spec),
        "DEVSKYY_TERMINATION_LOG": str(tmp_path / "termination-log"),
        "DEVSKYY_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
    }
    assert worker_main(env) == 7
    with task_context("task-logs1", "diagnostic", "carol"):
        emit_everything()
    err = capsys.readouterr().err
    assert_clean(err)
    lines = [json.loads(line) for line in err.splitlines()]
    about_task = [line for line in lines if "task-logs1" in line["message"]]
    assert len(about_task) >= 2  # Processing ..., ... failed
    for line in [*about_task, *lines[-4:]]:
        assert (line["task_id"], line["type"], line["user_id"]) == (
            "task-logs1",
            "diagnostic",
            "carol",
        )


# ------------------------------------------------------------------ the real API process


@pytest.fixture(scope="module")
def api_log(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Requests carrying bearer tokens against a real `devskyy-api`; its stderr, after."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("api") / "api.log"
    env = {
        **os.environ,
        **SECRETS,
        "LOG_FORMAT": "json",
        "DEVSKYY_REDIS_URL": redis_server.url,
        "DEVSKYY_API_TOKENS": api_tokens_setting(),
        "DEVSKYY_API_PORT": str(port),
        "DEVSKYY_API_HOST": "127.0.0.1",
    }
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "devskyy_operator.intake"], env=env, stdout=sink, stderr=sink
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "devskyy-api did not start"
                time.sleep(0.05)
        good = {"Authorization": f"Bearer {BEARER}"}
        bad = {"Authorization": f"Bearer {SECRETS['OPENAI_API_KEY']}"}
        spec = {"type": "diagnostic", "input": {"user_id": "alice"}}
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.post("/v1/tasks", json=spec, headers=good).status_code == 202
            assert client.get("/v1/tasks", headers=good).status_code == 200
            assert client.get("/v1/queues", headers=bad).status_code == 401
            assert client.get(f"/v1/tasks/{BEARER}", headers=good).status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=10)
    return log_path.read_text()


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_api_audit_lines_never_hold_header_tokens(api_log: str) -> None:
    audit = [line for line in api_log.splitlines() if "route=/v1/" in line]
    assert len(audit) == 4, api_log
    assert "user=alice" in audit[0]
    assert "status=401" in audit[2]
    for line in audit[:3]:
        assert_clean(line)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_api_audit_line_does_not_echo_unknown_task_ids(api_log: str) -> None:
    assert_clean(api_log)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_api_uses_the_shared_logging_setup(api_log: str) -> None:
    lines = [line for line in api_log.splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert json.loads(line)["component"] == "api"

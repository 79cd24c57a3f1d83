"""`devskyy-task` as a pod runs it: env in, termination message + exit code out."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.agents.conftest import run_task

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SEED_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - worker - INFO - (.*)$", re.M)


def diagnostic(**input_: object) -> dict[str, object]:
    return {"type": "diagnostic", "input": {"user_id": "user-1", **input_}}


def test_success_writes_seed_output_and_seed_log_lines(tmp_path: Path) -> None:
    run = run_task(tmp_path, diagnostic(result={"ok": True}))
    assert run.code == 0, run.stderr
    assert run.message["status"] == "success"
    assert run.message["task_id"] == "task-abc123"
    assert run.message["result"] == {"ok": True}
    lines = SEED_LINE.findall(run.stderr)
    assert lines[0] == (
        "Processing task task-abc123 (type: diagnostic) "
        "[task_id=task-abc123 type=diagnostic user_id=user-1]"
    )
    assert lines[-1].startswith("Task task-abc123 completed (status: success)")


@pytest.mark.parametrize(
    ("exit_code", "error_type"),
    [(42, "PermanentTaskError"), (75, "RetryableTaskError"), (3, "RetryableTaskError")],
)
def test_requested_failure_codes(tmp_path: Path, exit_code: int, error_type: str) -> None:
    run = run_task(tmp_path, diagnostic(exit_code=exit_code))
    assert run.code == exit_code
    assert run.message["status"] == "failed"
    assert run.message["error_type"] == error_type


def test_spec_from_file_and_json_log_format(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(diagnostic()))
    run = run_task(tmp_path, None, DEVSKYY_TASK_SPEC_FILE=str(spec_file), LOG_FORMAT="json")
    assert run.code == 0, run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert lines
    assert all(line["component"] == "worker" for line in lines)


def test_without_a_spec_the_default_file_is_named_in_the_failure(tmp_path: Path) -> None:
    """No DEVSKYY_TASK_SPEC and no DEVSKYY_TASK_SPEC_FILE: the Jobs' default path
    is read, and its absence is a permanent, explained failure."""
    run = run_task(tmp_path, None)
    assert run.code == 42
    assert run.message["error_type"] == "InvalidTaskInput"
    assert "/data/task/spec.json" in run.message["error"]


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "nope", "input": {}},
        {"type": "diagnostic", "input": {"user_id": "u", "exit_code": "3"}},
        {
            "type": "ml_training",
            "input": {
                "user_id": "u",
                "model_id": "trend_predictor",
                "training_data_path": "../etc/passwd",
            },
        },
        {
            "type": "ml_training",
            "input": {
                "user_id": "u",
                "model_id": "trend_predictor",
                "training_data_path": "/etc/passwd",
            },
        },
        {
            "type": "generate_3d",
            "input": {"user_id": "u", "image_url": "https://169.254.169.254/x.png"},
        },
    ],
)
def test_invalid_spec_is_permanent(tmp_path: Path, spec: dict[str, object]) -> None:
    run = run_task(tmp_path, spec)
    assert run.code == 42
    assert run.message["error_type"] == "InvalidTaskInput"


def test_bad_task_id_is_permanent(tmp_path: Path) -> None:
    run = run_task(tmp_path, diagnostic(), task_id="Not_A_Label")
    assert run.code == 42


def test_large_result_goes_to_artifacts_with_reference(tmp_path: Path) -> None:
    big = {f"k{i}": "x" * 100 for i in range(100)}
    run = run_task(tmp_path, diagnostic(result=big))
    assert run.code == 0
    ref = Path(run.message["result"]["result_ref"])
    assert ref == tmp_path / "artifacts" / "task-abc123" / "result.json"
    assert json.loads(ref.read_text())["result"] == big


def test_passed_deadline_is_retryable(tmp_path: Path) -> None:
    run = run_task(tmp_path, diagnostic(), DEVSKYY_TASK_DEADLINE=str(time.time() - 1))
    assert run.code == 75
    assert run.message["error_type"] == "DeadlineExceeded"


def test_deadline_cuts_a_long_task(tmp_path: Path) -> None:
    started = time.monotonic()
    run = run_task(
        tmp_path, diagnostic(sleep_seconds=60), DEVSKYY_TASK_DEADLINE=str(time.time() + 2)
    )
    assert run.code == 75
    assert run.message["error_type"] == "DeadlineExceeded"
    assert time.monotonic() - started < 30


def test_diagnostic_writes_its_fill_into_its_own_artifacts_directory(tmp_path: Path) -> None:
    run = run_task(tmp_path, diagnostic(write_mib=3, allocate_mib=8))
    assert run.code == 0, run.stderr
    fill = tmp_path / "artifacts" / "task-abc123" / "diagnostic-fill.bin"
    assert fill.stat().st_size == 3 * 1024 * 1024
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == ["task-abc123"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("allocate_mib", 16 * 1024 + 1), ("write_mib", -1), ("write_mib", "5"),
     ("allocate_mib", 1.5), ("write_mib", True)],
)  # fmt: skip
def test_diagnostic_probe_sizes_are_bounded_and_strict(
    tmp_path: Path, field: str, value: object
) -> None:
    run = run_task(tmp_path, diagnostic(**{field: value}))
    assert run.code == 42, run.stderr
    assert field in run.message["error"]


def test_diagnostic_reports_its_runtime_and_prints_requested_lines_raw(tmp_path: Path) -> None:
    spec = diagnostic(report_runtime=True, print_lines=["hello raw"], echo_env=["DIAGNOSTIC_TOKEN"])
    run = run_task(tmp_path, spec, DIAGNOSTIC_TOKEN="tok-1234567")
    assert run.code == 0, run.stderr
    runtime = run.message["runtime"]
    assert runtime["uid"] == os.getuid()
    assert runtime["gid"] == os.getgid()
    assert runtime["attempt"] == 1
    assert runtime["cgroup_version"] in (1, 2)
    # stdout is the task's own: what it prints is not the logger's (masked) lines.
    assert run.stdout.splitlines() == ["hello raw", "DIAGNOSTIC_TOKEN=tok-1234567"]


@pytest.mark.parametrize("name", ["TRIPO_API_KEY", "PATH; rm -rf /", "DIAGNOSTIC_"])
def test_diagnostic_echo_env_prints_only_diagnostic_variables(tmp_path: Path, name: str) -> None:
    run = run_task(tmp_path, diagnostic(echo_env=[name]), TRIPO_API_KEY="tsk-1234567")
    assert run.code == 42
    assert "echo_env" in run.message["error"]
    assert "tsk-1234567" not in run.stdout

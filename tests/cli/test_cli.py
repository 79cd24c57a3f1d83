"""`devskyy` end to end: enqueue, status, list, cancel, queues, dlq."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from devskyy_operator import keys
from tests.cli.conftest import RunCli
from tests.support.dead_letters import seed_dead_letter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_enqueue_status_list_cancel(devskyy: RunCli, redis_client: redis.Redis) -> None:
    done = devskyy("--json", "enqueue", "-t", "diagnostic", "-s", "sleep_seconds=2", "-p", "300")
    assert done.returncode == 0, done.stderr
    task_id = json.loads(done.stdout)["id"]
    assert json.loads(redis_client.hget(keys.task_key(task_id), "data") or "") == {
        "sleep_seconds": 2,
        "user_id": "alice",
    }
    status = devskyy("status", task_id)
    assert status.returncode == 0, status.stderr
    assert "pending" in status.stdout
    assert "position" in status.stdout
    assert "1 of 1" in status.stdout
    assert ["estimated_wait", "unknown"] in [line.split() for line in status.stdout.splitlines()]

    listing = devskyy("list")
    assert listing.stdout.splitlines()[0].split() == [
        "ID", "TYPE", "STATUS", "PRIORITY", "CREATED_AT", "ERROR",
    ]  # fmt: skip
    assert task_id in listing.stdout

    queues = devskyy("queues")
    assert any(line.split()[:2] == ["diagnostic", "1"] for line in queues.stdout.splitlines())

    cancelled = devskyy("cancel", task_id)
    assert cancelled.stdout.strip() == f"{task_id}: cancelled"
    again = devskyy("cancel", task_id)
    assert again.returncode == 1
    assert "HTTP 409" in again.stderr


def test_enqueue_from_file_and_errors(
    devskyy: RunCli, redis_client: redis.Redis, tmp_path: Path
) -> None:
    manifest = tmp_path / "task.yaml"
    manifest.write_text(
        "apiVersion: devskyy.io/v1alpha1\nkind: DevSkyyTask\nmetadata: {name: x}\n"
        "spec:\n  type: ml_training\n  priority: 5\n  input:\n    user_id: alice\n"
        "    model_id: trend_predictor\n    training_data_path: sales.csv\n"
    )
    done = devskyy("enqueue", "-f", str(manifest), "--id", "from-file-1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("from-file-1 pending /v1/tasks/from-file-1")

    bad = devskyy("enqueue", "-t", "ml_training", "-s", "model_id=trend_predictor",
                  "-s", "training_data_path=../../etc/passwd")  # fmt: skip
    assert bad.returncode == 1
    assert "input.training_data_path" in bad.stderr
    assert devskyy("--token", "wrong", "queues").returncode == 1
    assert redis_client.zcard(keys.queue_key("ml_training")) == 1


def test_dlq_commands(devskyy: RunCli, redis_client: redis.Redis) -> None:
    seed_dead_letter(redis_client, "task-dead1", "alice", 1.0)
    listing = devskyy("dlq", "list")
    assert "task-dead1" in listing.stdout
    assert "BackoffLimitExceeded" in listing.stdout
    shown = devskyy("--json", "dlq", "show", "task-dead1")
    assert json.loads(shown.stdout)["exit_code"] == 3
    retried = devskyy("dlq", "retry", "task-dead1")
    assert retried.stdout.startswith("task-dead1-r1 pending"), retried.stderr
    assert devskyy("dlq", "show", "task-dead1").returncode == 1


def test_enqueue_a_multi_document_file_as_one_batch(
    devskyy: RunCli, redis_client: redis.Redis, tmp_path: Path
) -> None:
    manifest = tmp_path / "tasks.yaml"
    manifest.write_text(
        "type: diagnostic\ninput: {user_id: alice}\n---\n"
        "apiVersion: devskyy.io/v1alpha1\nkind: DevSkyyTask\nmetadata: {name: y}\n"
        "spec: {type: diagnostic, priority: 9, input: {user_id: alice}}\n---\n"
    )
    done = devskyy("--json", "enqueue", "-f", str(manifest), "--idempotency-key", "run-1")
    assert done.returncode == 0, done.stderr
    ids = [t["id"] for t in json.loads(done.stdout)["tasks"]]
    assert len(ids) == 2
    assert redis_client.hget(keys.task_key(ids[1]), "priority") == "9"
    again = devskyy("enqueue", "-f", str(manifest), "--idempotency-key", "run-1")
    assert again.stdout.splitlines() == [
        f"{task_id} pending /v1/tasks/{task_id} (replayed)" for task_id in ids
    ]

    manifest.write_text(manifest.read_text() + "type: diagnostic\ninput: {user_id: alice, x: 1}\n")
    bad = devskyy("enqueue", "-f", str(manifest))
    assert bad.returncode == 1
    assert "tasks.2.spec.input.x" in bad.stderr
    assert redis_client.zcard(keys.queue_key("diagnostic")) == 2
    assert devskyy("enqueue", "-f", str(manifest), "--id", "one").returncode == 1


def test_the_shipped_batch_example_is_queued_once(
    devskyy: RunCli, redis_client: redis.Redis
) -> None:
    example = str(Path(__file__).resolve().parents[2] / "examples" / "batch" / "diagnostics.yaml")
    done = devskyy("--json", "enqueue", "-f", example, "--idempotency-key", "smoke-1", user="ops")
    assert done.returncode == 0, done.stderr
    ids = [t["id"] for t in json.loads(done.stdout)["tasks"]]
    queued = redis_client.zrange(keys.queue_key("diagnostic"), 0, -1)
    assert queued == [ids[0], ids[1], ids[2]]  # priority 200, then 100 (default), then 50
    again = devskyy("--json", "enqueue", "-f", example, "--idempotency-key", "smoke-1", user="ops")
    assert [t["id"] for t in json.loads(again.stdout)["tasks"]] == ids
    assert redis_client.zcard(keys.queue_key("diagnostic")) == 3

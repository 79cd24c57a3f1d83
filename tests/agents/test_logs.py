"""Logging: seed line format, JSON lines, task context, redaction."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest

from devskyy_agents.logs import configure_logging, redact, secret_values, task_context

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]

ENV = {
    "TRIPO_API_KEY": "tsk_live_abcdef123456",
    "SHOP_API_TOKEN": "tok-987654321",
    "REDIS_URL": "redis://localhost:6379/0",
    "LOG_FORMAT": "text",
}


@pytest.fixture(autouse=True)
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_text_format_is_the_seeds_with_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("worker", environ=ENV)
    log = logging.getLogger("worker")
    log.info("Background worker started")
    with task_context("task-abc123", "generate_3d", "user-9"):
        log.info("Processing task %s (type: %s)", "task-abc123", "generate_3d")
    lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - worker - INFO - Background worker started", lines[0]
    )
    assert lines[1].endswith(
        " - worker - INFO - Processing task task-abc123 (type: generate_3d)"
        " [task_id=task-abc123 type=generate_3d user_id=user-9]"
    )


def test_json_format_carries_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("operator", environ={**ENV, "LOG_FORMAT": "json"})
    with task_context("t-1", "ml_training", "u-1"):
        logging.getLogger("devskyy_operator.x").warning("hello %d", 5)
    line = json.loads(capsys.readouterr().err.strip())
    assert line["message"] == "hello 5"
    assert line["level"] == "WARNING"
    assert line["component"] == "operator"
    assert (line["task_id"], line["type"], line["user_id"]) == ("t-1", "ml_training", "u-1")


def test_secrets_are_redacted_from_messages_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("worker", environ=ENV)
    log = logging.getLogger("worker")
    log.info("calling with key %s", ENV["TRIPO_API_KEY"])
    log.info("headers: {'Authorization': 'Bearer sk-abc.def-ghi'}")
    try:
        raise RuntimeError(f"token {ENV['SHOP_API_TOKEN']} refused")
    except RuntimeError:
        log.exception("failed")
    out = capsys.readouterr().err
    assert ENV["TRIPO_API_KEY"] not in out
    assert ENV["SHOP_API_TOKEN"] not in out
    assert "sk-abc.def-ghi" not in out
    assert out.count("***") >= 3
    assert "redis://localhost:6379/0" not in secret_values(ENV)


def test_redact_patterns() -> None:
    assert redact("Authorization: Basic dXNlcjpwYXNz", []) == "Authorization: ***"
    assert (
        redact("connecting to postgresql://devskyy:s3cr3t-pw@db:5432/devskyy", [])
        == "connecting to postgresql://devskyy:***@db:5432/devskyy"
    )
    assert redact("redis://:pw-123@redis:6379/0 and redis://localhost:6379/0", []) == (
        "redis://:***@redis:6379/0 and redis://localhost:6379/0"
    )
    assert redact("got bearer abc.DEF_123 back", []) == "got bearer *** back"
    assert redact("SMTP says pw", ["pw12"]) == "SMTP says pw"
    assert redact("value pw12 here", ["pw12"]) == "value *** here"


def test_redact_masks_key_shaped_tokens_and_keys_in_url_queries() -> None:
    assert redact("bad key sk-ant-api03-AbC_dEf-123", []) == "bad key ***"
    assert redact("GET /v1/models?key=AIza123&alt=json", []) == "GET /v1/models?key=***&alt=json"
    assert redact("https://h/x?a=1&API_KEY=s3cr3t", []) == "https://h/x?a=1&API_KEY=***"
    assert redact("asked for a disk-size and a task-sk-id", []) == (
        "asked for a disk-size and a task-sk-id"
    )

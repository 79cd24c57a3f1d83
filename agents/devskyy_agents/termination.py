"""The termination message: the one channel from a task pod back to the operator.

Kubernetes keeps at most 4096 bytes of it, so a larger result is written in full
to the artifacts volume and the message carries a reduced copy with `result_ref`.
Both the output and the failure record carry the task's provider usage under
`usage` (usage.py: a few small lines), which the operator prices.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from devskyy_agents.clock import utc_iso
from devskyy_agents.errors import TaskError
from devskyy_agents.logs import redact
from devskyy_agents.models import OutputBase

MAX_MESSAGE_BYTES = 4096
MAX_ERROR_CHARS = 1024


def compact(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_message(path: Path, data: bytes) -> None:
    """Write the termination message in place: the kubelet bind-mounts that file,
    so it cannot be replaced by a rename."""
    with path.open("wb") as handle:
        handle.write(data[:MAX_MESSAGE_BYTES])


def reduce_output(full: dict[str, Any], ref: str) -> dict[str, Any]:
    """Keep the ids, status and scalar result fields; point at the full result."""
    result = full.get("result")
    small: dict[str, Any] = {"result_ref": ref}
    if isinstance(result, dict):
        for key, value in result.items():
            if isinstance(value, (str, int, float, bool)) or value is None:
                small[key] = value
    reduced = {k: v for k, v in full.items() if k != "result"}
    reduced["result"] = small
    if len(compact(reduced)) > MAX_MESSAGE_BYTES:
        reduced["result"] = {"result_ref": ref}
    return reduced


USAGE_FIELD = "usage"


def write_result(
    path: Path,
    artifacts_dir: Path,
    task_id: str,
    output: OutputBase,
    usage: list[dict[str, Any]] | None = None,
) -> None:
    """Write the output; spill it to artifacts_dir/<task_id>/result.json when too large."""
    full = output.model_dump(mode="json", exclude_none=True)
    if usage:
        full[USAGE_FIELD] = usage
    message = compact(full)
    if len(message) > MAX_MESSAGE_BYTES:
        ref = artifacts_dir / task_id / "result.json"
        write_atomic(ref, message)
        message = compact(reduce_output(full, str(ref)))
    write_message(path, message)


def write_failure(
    path: Path,
    task_id: str,
    error: BaseException,
    secrets: list[str],
    usage: list[dict[str, Any]] | None = None,
) -> None:
    """Failure record for the DLQ: message redacted and truncated, never a traceback.
    A failed task may have paid for calls already: its usage comes along."""
    error_type = error.error_type if isinstance(error, TaskError) else type(error).__name__
    text = redact(str(error) or error_type, secrets)[:MAX_ERROR_CHARS]
    record = {
        "status": "failed",
        "task_id": task_id,
        "error": text,
        "error_type": error_type,
        "retryable": error.retryable if isinstance(error, TaskError) else True,
        "completed_at": utc_iso(),
    }
    if usage:
        record[USAGE_FIELD] = usage
    message = compact(record)
    while len(message) > MAX_MESSAGE_BYTES:
        record["error"] = str(record["error"])[: len(str(record["error"])) // 2]
        message = compact(record)
    # Nowhere left to report if this fails; the exit code still carries the outcome.
    with contextlib.suppress(OSError):
        write_message(path, message)

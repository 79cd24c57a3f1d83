"""diagnostic: sleep, then succeed with a result or exit with a chosen code.

Smoke tests of a deployment use it to exercise success, retryable and permanent
outcomes end to end without any provider; `fail_attempts` adds "failed, retried,
then succeeded" (the attempt number comes from the task's ledger).
`allocate_mib` and `write_mib` probe the runtime's limits: memory (an OOM kill)
and ephemeral storage (a kubelet eviction), each held through `sleep_seconds`.

On a real node it also shows what the runtime enforces: `report_runtime` puts
the cgroup limits and uid/gid the task sees in its result, and
`write_outside_volumes` tries one fixed path of the root filesystem (never a
user-chosen one), which a read-only root refuses. `echo_env` and `print_lines`
write to stdout unmasked, so the operator's masking of the DLQ log tail can be
checked end to end.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from devskyy_agents.clock import utc_iso
from devskyy_agents.errors import (
    PERMANENT_EXIT_CODE,
    InvalidTaskInput,
    PermanentTaskError,
    RetryableTaskError,
    TaskError,
)
from devskyy_agents.models import DiagnosticInput, DiagnosticOutput, TaskInput
from devskyy_agents.registry import RunContext
from devskyy_agents.runtime_probe import probe

# The one path `write_outside_volumes` tries: on the image's root filesystem, under
# no volume mount (volumes are /tmp, /data/...).
WRITE_PROBE_PATH = "/etc/devskyy-write-probe"


class DiagnosticExit(TaskError):
    """A requested non-zero exit; carries the exact code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"diagnostic task asked to exit with code {code}")
        self.exit_code = code
        self.retryable = code != PERMANENT_EXIT_CODE

    @property
    def error_type(self) -> str:
        if self.exit_code == PERMANENT_EXIT_CODE:
            return PermanentTaskError.__name__
        return RetryableTaskError.__name__


MIB = 1024 * 1024
FILL_FILE = "diagnostic-fill.bin"  # fixed name: the input chooses a size, never a path


def allocate(mib: int) -> list[bytes]:
    """`mib` MiB of memory, every page written (a zeroed allocation may stay untouched)."""
    return [b"\x01" * MIB for _ in range(mib)]


def fill(directory: Path, mib: int) -> Path:
    """Write `mib` MiB to FILL_FILE in `directory` (the task's own artifacts directory)."""
    path = directory / FILL_FILE
    directory.mkdir(parents=True, exist_ok=True)
    chunk = b"\x02" * MIB
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())  # on disk, where the kubelet's usage scan counts it
    return path


class DiagnosticAgent:
    async def run(self, task_id: str, task_input: TaskInput, ctx: RunContext) -> DiagnosticOutput:
        assert isinstance(task_input, DiagnosticInput)
        if task_input.fail_attempts:
            if not ctx.ledger.persistent:
                raise InvalidTaskInput(
                    "fail_attempts needs a persistent artifacts volume (operator setting "
                    "artifacts_claim): without it every attempt is attempt 1"
                )
            if ctx.attempt <= task_input.fail_attempts:
                raise RetryableTaskError(
                    f"diagnostic task asked to fail attempt {ctx.attempt} "
                    f"of the first {task_input.fail_attempts}"
                )
        _print_lines(task_input, ctx)
        if task_input.write_outside_volumes:
            _write_outside_volumes()
        held = allocate(task_input.allocate_mib)
        if task_input.write_mib:
            await asyncio.to_thread(fill, ctx.artifacts_dir / task_id, task_input.write_mib)
        if task_input.sleep_seconds:
            await asyncio.sleep(task_input.sleep_seconds)
        del held
        if task_input.exit_code != 0:
            raise DiagnosticExit(task_input.exit_code)
        runtime = None
        if task_input.report_runtime:
            runtime = {**probe().as_dict(), "attempt": ctx.attempt}
        return DiagnosticOutput(
            status="success",
            task_id=task_id,
            result=dict(task_input.result),
            completed_at=utc_iso(),
            runtime=runtime,
        )


def _print_lines(task_input: DiagnosticInput, ctx: RunContext) -> None:
    """The requested lines and variables, straight to stdout (past the log redaction)."""
    lines = [*task_input.print_lines]
    lines += [f"{name}={ctx.config.get(name, '')}" for name in task_input.echo_env]
    if lines:
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        sys.stdout.flush()


def _write_outside_volumes() -> None:
    """Create and remove WRITE_PROBE_PATH; a refusal fails the task permanently
    (a read-only root will refuse every attempt alike)."""
    try:
        fd = os.open(WRITE_PROBE_PATH, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise PermanentTaskError(
            f"writing {WRITE_PROBE_PATH} outside the task's volumes failed: "
            f"[Errno {exc.errno}] {exc.strerror}"
        ) from None
    os.close(fd)
    os.unlink(WRITE_PROBE_PATH)

"""`devskyy-task`: the task pod's process. Spec in, result + exit code out.

Environment contract (the operator's job builder sets these; names and default
paths in `task_env`):
  DEVSKYY_TASK_ID          task id (required)
  DEVSKYY_TASK_SPEC        the CR spec as JSON, or
  DEVSKYY_TASK_SPEC_FILE   a file holding it (default /data/task/spec.json, where
                           the operator's Jobs project a pod-template annotation)
  DEVSKYY_TASK_DEADLINE    unix epoch seconds the task must finish by (optional)
  DEVSKYY_TERMINATION_LOG  result file (default /dev/termination-log, max 4096 bytes)
  DEVSKYY_ARTIFACTS_DIR    where results too large for the message go (default /data/artifacts);
                           <dir>/<task id>/ holds this task's ledger (ledger.py)
  DEVSKYY_ARTIFACTS_PERSISTENT  "true" when that directory outlives the pod (a PVC)
  DEVSKYY_TASK_RETRIES     the Job's backoffLimit: whether a failure now gets another attempt
  WORKER_THREADS           threads the task may use; the native thread pools
                           (OMP/OpenBLAS/MKL, when not set) start at that size
Exit codes: 0 success, 42 permanent failure, 75 retryable failure (errors.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from devskyy_agents import task_env
from devskyy_agents.errors import (
    PERMANENT_EXIT_CODE,
    RETRYABLE_EXIT_CODE,
    SUCCESS_EXIT_CODE,
    DeadlineExceeded,
    InvalidTaskInput,
    TaskError,
)
from devskyy_agents.ledger import Ledger
from devskyy_agents.logs import configure_logging, secret_values, task_context
from devskyy_agents.models import TASK_ID_RE, OutputBase, TaskSpec, parse_spec
from devskyy_agents.registry import RunContext, agent_for, worker_threads
from devskyy_agents.termination import write_failure, write_result

log = logging.getLogger("worker")


class Terminated(TaskError):
    """SIGTERM arrived (deadline, eviction, deletion): let the Job decide about a retry."""


def load_spec(env: Mapping[str, str]) -> tuple[str, TaskSpec]:
    """Task id and validated spec from the environment; InvalidTaskInput if unusable."""
    task_id = env.get(task_env.TASK_ID, "")
    if not TASK_ID_RE.match(task_id):
        raise InvalidTaskInput(f"{task_env.TASK_ID} is missing or not a DNS-1123 label")
    raw = env.get(task_env.TASK_SPEC)
    if raw is None:
        spec_file = env.get(task_env.TASK_SPEC_FILE) or task_env.SPEC_FILE_PATH
        try:
            raw = Path(spec_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidTaskInput(
                f"no {task_env.TASK_SPEC}, and cannot read {task_env.TASK_SPEC_FILE} "
                f"{spec_file}: {exc.strerror}"
            ) from None
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        raise InvalidTaskInput(f"task spec is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidTaskInput("task spec must be a JSON object")
    try:
        return task_id, parse_spec(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'spec'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidTaskInput(f"invalid task spec: {problems}") from None


def parse_deadline(env: Mapping[str, str]) -> float | None:
    value = env.get(task_env.TASK_DEADLINE, "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidTaskInput(f"{task_env.TASK_DEADLINE} must be unix epoch seconds") from None


async def run_task(task_id: str, spec: TaskSpec, ctx: RunContext) -> OutputBase:
    """Run the agent of the spec's type within the deadline."""
    agent = agent_for(spec.type)
    remaining = ctx.remaining()
    if remaining is not None and remaining <= 0:
        raise DeadlineExceeded("the task deadline has already passed")
    try:
        async with asyncio.timeout(remaining):
            return await agent.run(task_id, spec.parsed_input(), ctx)
    except TimeoutError:
        raise DeadlineExceeded("the task did not finish before its deadline") from None


async def _run_guarded(task_id: str, spec: TaskSpec, ctx: RunContext) -> OutputBase:
    """Run the task; SIGTERM cancels it and becomes a retryable Terminated."""
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    terminated = False

    def on_sigterm() -> None:
        nonlocal terminated
        terminated = True
        if current is not None:
            current.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        return await run_task(task_id, spec, ctx)
    except asyncio.CancelledError:
        if terminated:
            raise Terminated("the task was terminated (SIGTERM)") from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await ctx.aclose()


def native_thread_pools(env: Mapping[str, str]) -> dict[str, str]:
    """The native thread-pool sizes WORKER_THREADS implies, for those not set.

    OpenMP and the BLAS libraries size their pools once, from the environment,
    when they load; the Job carries WORKER_THREADS alone.
    """
    threads = worker_threads(env)
    if threads is None:
        return {}
    return {name: str(threads) for name in task_env.NATIVE_THREAD_POOLS if name not in env}


def main(environ: Mapping[str, str] | None = None) -> int:
    """Console script; returns (and exits with) the outcome's exit code."""
    if environ is None:  # the pod's own process: before any native library loads
        os.environ.update(native_thread_pools(os.environ))
    env = dict(os.environ if environ is None else environ)
    configure_logging("worker", environ=env)
    termination_log = Path(env.get(task_env.TERMINATION_LOG, task_env.TERMINATION_LOG_PATH))
    artifacts_dir = Path(env.get(task_env.ARTIFACTS_DIR, task_env.ARTIFACTS_PATH))
    secrets = secret_values(env)
    task_id = env.get(task_env.TASK_ID, "")
    started = time.monotonic()
    code = _execute(env, termination_log, artifacts_dir, secrets)
    log.debug("task %s exited %d after %.2fs", task_id, code, time.monotonic() - started)
    logging.shutdown()
    if environ is None:
        sys.exit(code)
    return code


def _execute(
    env: Mapping[str, str], termination_log: Path, artifacts_dir: Path, secrets: list[str]
) -> int:
    task_id = env.get(task_env.TASK_ID, "")
    try:
        task_id, spec = load_spec(env)
        deadline = parse_deadline(env)
        persistent = env.get(task_env.ARTIFACTS_PERSISTENT, "").lower() == "true"
        ledger = Ledger.open(artifacts_dir / task_id, persistent=persistent)
        ctx = RunContext.from_env(env, deadline, ledger)
    except TaskError as exc:
        log.error("Task %s rejected: %s", task_id or "?", exc)
        write_failure(termination_log, task_id, exc, secrets)
        return exc.exit_code
    with task_context(task_id, spec.type.value, spec.user_id):
        log.info("Processing task %s (type: %s)", task_id, spec.type.value)
        if ctx.attempt > 1:
            log.info("Attempt %d of task %s: continuing from its ledger", ctx.attempt, task_id)
        try:
            output = asyncio.run(_run_guarded(task_id, spec, ctx))
        except TaskError as exc:
            log.error(
                "Task %s failed (status: failed, error_type: %s): %s", task_id, exc.error_type, exc
            )
            write_failure(termination_log, task_id, exc, secrets, ctx.usage.report())
            return exc.exit_code
        except Exception as exc:
            # A bug or an unforeseen library error: retryable, the next pod may fare better.
            log.exception(
                "Task %s failed (status: failed, error_type: %s)", task_id, type(exc).__name__
            )
            write_failure(termination_log, task_id, exc, secrets, ctx.usage.report())
            return RETRYABLE_EXIT_CODE
        write_result(termination_log, artifacts_dir, task_id, output, ctx.usage.report())
        log.info("Task %s completed (status: %s)", task_id, output.status)
        return SUCCESS_EXIT_CODE if output.status == "success" else PERMANENT_EXIT_CODE

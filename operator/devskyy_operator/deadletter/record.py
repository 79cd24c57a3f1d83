"""The facts of a final failure and the dead-letter record made from them (pure).

`FinalFailure` is what every door that ends a task for good knows about it: the
operator (a failed Job, a deleted Job, a spec the models refuse) and the bridge
(a spec the CRD refuses, a resource lost). `DeadLetter` is the JSON string at
`devskyy:dlq:<id>`: the seed's fields (task_id, task_data, error, error_type,
failed_at, worker_host) plus attempts, reason, exit code, termination message,
type, user, namespace and the masked last lines of the failed attempt's log
(`log_tail`, from pod `log_pod`; see log_tail.py). The same type is written and
read back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from devskyy_agents.clock import utc_iso
from devskyy_agents.errors import InvalidTaskInput
from devskyy_operator.cost.model import TaskCost
from devskyy_operator.crd.status import clip

MAX_TERMINATION_CHARS = 4096  # what Kubernetes keeps of a termination message
# The error class of a spec refused at a door (CRD or models), as the task pod names it.
ERROR_TYPE_INVALID_INPUT = InvalidTaskInput.__name__
HISTORY_FIELDS = (
    "task_id", "error", "error_type", "failed_at", "worker_host", "attempts", "reason",
    "exit_code",
)  # fmt: skip


@dataclass(frozen=True)
class FinalFailure:
    """Everything recorded about a task that failed for good."""

    task_id: str
    task_type: str
    user_id: str
    namespace: str
    task_data: dict[str, Any]
    reason: str  # CamelCase: BackoffLimitExceeded, InvalidSpec, Lost, ...
    error: str  # what went wrong, for a human
    error_type: str  # the error class, as in the task's failure record
    failed_at: datetime
    attempts: int = 0
    exit_code: int | None = None
    termination_message: str | None = None
    worker_host: str = ""
    log_pod: str | None = None  # the failed attempt's pod, whose log the record keeps
    log_tail: str = ""  # its last lines, masked and bounded (final_failure.py reads them)
    cost: TaskCost | None = None  # what it cost until it failed (the task hash keeps it)

    def dead_letter(self) -> DeadLetter:
        return DeadLetter(
            task_id=self.task_id,
            task_data=self.task_data,
            error=clip(self.error),
            error_type=self.error_type,
            failed_at=utc_iso(self.failed_at),
            worker_host=self.worker_host,
            attempts=self.attempts,
            reason=self.reason,
            exit_code=self.exit_code,
            termination_message=(self.termination_message or "")[:MAX_TERMINATION_CHARS],
            task_type=self.task_type,
            user_id=self.user_id,
            namespace=self.namespace,
            log_pod=self.log_pod or "",
            log_tail=self.log_tail,
        )


@dataclass(frozen=True)
class DeadLetter:
    """One `devskyy:dlq:<id>` record. Reading is lenient: records written by older
    versions may lack the extras."""

    task_id: str
    task_data: Any
    error: str
    error_type: str
    failed_at: str
    worker_host: str
    attempts: int | None = None
    reason: str = ""
    exit_code: int | None = None
    termination_message: str = ""
    task_type: str = ""
    user_id: str = ""
    namespace: str = ""
    log_pod: str = ""
    log_tail: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, task_id: str, text: str) -> DeadLetter:
        """Parse a stored record; `task_id` is the key's id (used when the record has none)."""
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError(f"DLQ record of {task_id} is not an object")
        data = record.get("task_data")
        user = record.get("user_id") or (data.get("user_id") if isinstance(data, dict) else "")

        def text_of(name: str) -> str:
            return str(record.get(name) or "")

        def int_of(name: str) -> int | None:
            value = record.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        return cls(
            task_id=str(record.get("task_id") or task_id),
            task_data=data,
            error=text_of("error"),
            error_type=text_of("error_type"),
            failed_at=text_of("failed_at"),
            worker_host=text_of("worker_host"),
            attempts=int_of("attempts"),
            reason=text_of("reason"),
            exit_code=int_of("exit_code"),
            termination_message=text_of("termination_message"),
            task_type=text_of("task_type"),
            user_id=str(user or ""),
            namespace=text_of("namespace"),
            log_pod=text_of("log_pod"),
            log_tail=text_of("log_tail"),
        )

    def history_entry(self) -> dict[str, Any]:
        """What a retry keeps of this failure in the new task's `attempt_history`."""
        fields = asdict(self)
        return {name: fields[name] for name in HISTORY_FIELDS}

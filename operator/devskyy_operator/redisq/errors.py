"""Why a queue operation was refused, and the HTTP answer each refusal means.

Each class carries its `http_status` (and, for the 429s, `retry_after`), so the
API maps every one of them in one exception handler (`intake.errors`) instead
of each route translating them again.
"""

from __future__ import annotations

from typing import ClassVar


class QueueError(Exception):
    """Base of every refusal the queue reports (not Redis connection errors)."""

    http_status: ClassVar[int] = 409
    retry_after: float | None = None  # seconds; sent as Retry-After when set


class TaskExists(QueueError):
    """A caller-chosen task id is already taken."""

    http_status = 409


class IdempotencyConflict(QueueError):
    """The Idempotency-Key was used before with a different request."""

    http_status = 409

    def __init__(self, task_id: str) -> None:
        super().__init__(f"Idempotency-Key already used for task {task_id} with another body")
        self.task_id = task_id


class QueueFull(QueueError):
    """The user already has the allowed number of queued tasks."""

    http_status = 429

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class RateLimited(QueueError):
    """Too many requests in the current window."""

    http_status = 429

    def __init__(self, retry_after: float, limit: int | None = None, tier: str = "") -> None:
        of = f": {limit} requests per window" if limit else ""
        of += f" for tier {tier}" if tier else ""
        super().__init__(f"rate limit exceeded{of}")
        self.retry_after = retry_after


class BatchItemRefused(QueueError):
    """One item of a batch was refused, so none was queued: the item's index, the
    field at fault (``tasks.<index>.<field>``) and the refusal it stands for."""

    def __init__(self, index: int, field: str, cause: QueueError) -> None:
        super().__init__(f"tasks.{index}: {cause}; no task of the batch was queued")
        self.index = index
        self.field = f"tasks.{index}.{field}"
        self.cause = cause  # its http_status and retry_after are the answer
        self.retry_after = cause.retry_after


class TaskNotFound(QueueError):
    """No such task (or dead letter)."""

    http_status = 404


class TaskFinished(QueueError):
    """The task already reached a terminal status."""

    http_status = 409

    def __init__(self, task_id: str, status: str) -> None:
        super().__init__(f"task {task_id} already {status}")
        self.status = status


class DeadLetterChanged(QueueError):
    """The dead letter changed or was retried concurrently."""

    http_status = 409


class DeadLetterInvalid(QueueError):
    """The dead letter's stored task no longer validates, so it cannot be retried."""

    http_status = 422


class ScheduleExists(QueueError):
    """A schedule of that name exists already."""

    http_status = 409


class ScheduleNotFound(QueueError):
    """No such schedule (or not the caller's)."""

    http_status = 404


class ScheduleChanged(QueueError):
    """The schedule changed between reading and writing it; read it again."""

    http_status = 409


class ScheduleQuotaExceeded(QueueError):
    """The owner already has max_schedules_per_user schedules (403, as a Kubernetes
    ResourceQuota answers)."""

    http_status = 403

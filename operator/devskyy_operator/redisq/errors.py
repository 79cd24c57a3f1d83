"""Why a queue operation was refused; the API maps each to one HTTP status."""

from __future__ import annotations


class QueueError(Exception):
    """Base of every refusal the queue reports (not Redis connection errors)."""


class TaskExists(QueueError):
    """A caller-chosen task id is already taken (HTTP 409)."""


class IdempotencyConflict(QueueError):
    """The Idempotency-Key was used before with a different request (HTTP 409)."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"Idempotency-Key already used for task {task_id} with another body")
        self.task_id = task_id


class QueueFull(QueueError):
    """The user already has the allowed number of queued tasks (HTTP 429)."""


class RateLimited(QueueError):
    """Too many requests in the current window (HTTP 429 with Retry-After)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limit exceeded; retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class TaskNotFound(QueueError):
    """No such task (or dead letter) (HTTP 404)."""


class TaskFinished(QueueError):
    """The task already reached a terminal status (HTTP 409)."""

    def __init__(self, task_id: str, status: str) -> None:
        super().__init__(f"task {task_id} already {status}")
        self.status = status


class DeadLetterChanged(QueueError):
    """The dead letter changed or was retried concurrently (HTTP 409)."""

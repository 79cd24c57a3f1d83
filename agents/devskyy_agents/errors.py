"""Failure taxonomy of task code and the exit codes that carry it to the Job controller.

The Job's podFailurePolicy fails the Job at once on PERMANENT_EXIT_CODE; any other
non-zero code is retried up to backoffLimit. Keep these numbers in step with the
operator's job builder (it imports them from here).
"""

from __future__ import annotations

SUCCESS_EXIT_CODE = 0
PERMANENT_EXIT_CODE = 42
RETRYABLE_EXIT_CODE = 75  # EX_TEMPFAIL


class TaskError(Exception):
    """Base of failures a task reports; `error_type` lands in the DLQ record."""

    exit_code = RETRYABLE_EXIT_CODE
    retryable = True

    @property
    def error_type(self) -> str:
        return type(self).__name__


class RetryableTaskError(TaskError):
    """A failure that may pass on a later attempt: network, 429, 5xx, timeouts."""


class PermanentTaskError(TaskError):
    """A failure no retry can fix: bad input, rejected or missing credentials."""

    exit_code = PERMANENT_EXIT_CODE
    retryable = False


class InvalidTaskInput(PermanentTaskError):
    """The task spec failed validation inside the pod."""


class MissingCredentials(PermanentTaskError):
    """A required secret (API key) is not configured."""


class CredentialsRejected(PermanentTaskError):
    """The provider answered 401/403."""


class ProviderTaskFailed(PermanentTaskError):
    """The provider ran the job and reported that it failed."""


class ProviderUnavailable(RetryableTaskError):
    """The provider timed out, answered 429/5xx or sent malformed data."""


class ProviderRequestRejected(PermanentTaskError):
    """The provider refused the request itself (400/404/422): resending it cannot help."""


class DeadlineExceeded(RetryableTaskError):
    """The task ran out of its time budget while waiting on a provider."""


class UnsafeUrl(PermanentTaskError):
    """A user-supplied URL points at a non-public address or breaks the URL rules."""

"""Task ids: DNS-1123 labels, because the id is also the CR and Job name."""

from __future__ import annotations

import base64
import re
import secrets

from devskyy_agents.models import TASK_ID_RE

MAX_TASK_ID_LENGTH = 52  # models.TASK_ID_PATTERN
_RETRY_SUFFIX = re.compile(r"-r[0-9]+$")


def new_task_id() -> str:
    """'task-' + 12 lowercase base32 characters (60 random bits)."""
    return "task-" + base64.b32encode(secrets.token_bytes(8)).decode()[:12].lower()


def is_task_id(value: str) -> bool:
    return TASK_ID_RE.match(value) is not None


def retry_task_id(failed_id: str, attempt: int) -> str:
    """'<original>-r<attempt>': a retried dead letter gets a new id, so the old
    Job/CR name never clashes, while the original id stays recognisable."""
    suffix = f"-r{attempt}"
    base = _RETRY_SUFFIX.sub("", failed_id)
    return base[: MAX_TASK_ID_LENGTH - len(suffix)].rstrip("-") + suffix

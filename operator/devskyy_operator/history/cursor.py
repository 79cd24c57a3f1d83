"""Keyset pagination over tasks, newest first (pure).

Order: created_at descending, then task_id descending: a total order, so pages
never repeat or skip a task, whatever is written meanwhile. The cursor is the
last row's key, opaque to clients (URL-safe base64 of JSON).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from devskyy_operator.history.events import parse_time


class InvalidCursor(ValueError):
    """A cursor this API did not hand out."""


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    task_id: str

    def encode(self) -> str:
        key = [self.created_at.isoformat(timespec="microseconds"), self.task_id]
        raw = json.dumps(key, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            created_text, task_id = json.loads(raw)
        except (binascii.Error, ValueError, TypeError):
            raise InvalidCursor("cursor: not a cursor from this API") from None
        created = parse_time(created_text) if isinstance(created_text, str) else None
        if created is None or not isinstance(task_id, str) or not task_id:
            raise InvalidCursor("cursor: not a cursor from this API")
        return cls(created, task_id)

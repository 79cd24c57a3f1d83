"""The last lines of a failed attempt's log, as a DLQ record keeps them (pure).

Masked before cut: a secret is replaced while whole, so no bound can leave half
of one behind. The values masked are those of the task's Secret (every key of
it is an environment variable of the task, through `envFrom`), then the
generic shapes of `devskyy_agents.logs.redact` (bearer tokens, Authorization
headers, `sk-...` keys, keys in URL queries, URL passwords).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from devskyy_agents.logs import MIN_SECRET_LENGTH, redact

# The log is fetched with this many bytes per kept byte at most: masking can only
# shorten it, and a line cut by the fetch limit is dropped.
FETCH_FACTOR = 4
WITHHELD = "(log tail withheld: the task's Secret could not be read to mask its values)"


def secret_values_of(secret: Mapping[str, Any]) -> list[str]:
    """The decoded values of a Secret's `data`, longest first (so a value that
    contains another is masked whole); too short or non-text values are skipped."""
    values: set[str] = set()
    for encoded in (secret.get("data") or {}).values():
        try:
            value = base64.b64decode(str(encoded), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        for candidate in (value, value.strip()):
            if len(candidate) >= MIN_SECRET_LENGTH:
                values.add(candidate)
    return sorted(values, key=len, reverse=True)


def fetch_limit_bytes(max_bytes: int) -> int:
    """`limitBytes` of the pods/log read for a tail of `max_bytes`."""
    return max(max_bytes * FETCH_FACTOR, 4096)


def complete_lines(raw: bytes, limit_bytes: int) -> str:
    """The fetched log as text; when the fetch stopped at its limit, the cut last
    line is dropped (it might end in half a secret, which masking cannot find)."""
    if len(raw) >= limit_bytes:
        cut = raw.rfind(b"\n")
        raw = raw[: cut + 1] if cut >= 0 else b""
    return raw.decode("utf-8", errors="replace")


def masked_tail(text: str, secrets: Sequence[str], max_lines: int, max_bytes: int) -> str:
    """The newest lines of `text`, masked, within `max_lines` lines and `max_bytes`
    UTF-8 bytes. A single line longer than the byte bound keeps its end."""
    if max_lines <= 0 or max_bytes <= 0:
        return ""
    lines = redact(text, list(secrets)).splitlines()[-max_lines:]
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        encoded = line.encode("utf-8")
        needed = len(encoded) + (1 if kept else 0)
        if size + needed > max_bytes:
            if not kept:  # the newest line alone is too long: keep its end
                kept.append(encoded[-max_bytes:].decode("utf-8", errors="ignore"))
            break
        kept.append(line)
        size += needed
    return "\n".join(reversed(kept))

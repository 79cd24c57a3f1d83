"""Provider usage of a task: tokens per model and credits per call, as the providers report them.

Agents add what each paid call used (`add_tokens`, `add_credits`); the entrypoint
puts `report()` into the termination message, where the operator prices it
(devskyy_operator/cost). The running totals are also kept in the task's ledger,
so with a persistent artifacts volume a retry reports what every attempt spent;
without one each attempt reports its own (and the operator sees the last pod's).

The report is small by construction: one line per (provider, model), at most
MAX_LINES of them, counts as non-negative integers.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from devskyy_agents.ledger import Ledger

log = logging.getLogger(__name__)

USAGE_KEY = "usage"
MAX_LINES = 16
MAX_COUNT = 10**12
MAX_NAME = 64


class UsageLine(BaseModel):
    """What one provider (and model) was used for: calls, tokens in and out, credits."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    provider: str = Field(min_length=1, max_length=MAX_NAME)
    model: str = Field(default="", max_length=MAX_NAME)
    calls: int = Field(default=0, ge=0, le=MAX_COUNT)
    input_tokens: int = Field(default=0, ge=0, le=MAX_COUNT)
    output_tokens: int = Field(default=0, ge=0, le=MAX_COUNT)
    credits: int = Field(default=0, ge=0, le=MAX_COUNT)

    def plus(self, other: UsageLine) -> UsageLine:
        return self.model_copy(
            update={
                name: min(MAX_COUNT, getattr(self, name) + getattr(other, name))
                for name in ("calls", "input_tokens", "output_tokens", "credits")
            }
        )


def parse_usage(data: Any) -> list[UsageLine]:
    """The usage lines of a report (a termination message's `usage`); bad lines are skipped."""
    if not isinstance(data, list):
        return []
    lines: list[UsageLine] = []
    for item in data[:MAX_LINES]:
        try:
            lines.append(UsageLine.model_validate(item))
        except ValidationError:
            log.warning("skipped a usage line that is not one: %.200r", item)
    return lines


class UsageMeter:
    """Running totals per (provider, model), written through to the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._lines: dict[tuple[str, str], UsageLine] = {
            (line.provider, line.model): line for line in parse_usage(ledger.get(USAGE_KEY))
        }

    def add(self, line: UsageLine) -> None:
        key = (line.provider, line.model)
        if key not in self._lines and len(self._lines) >= MAX_LINES:
            log.warning("usage of %s/%s not kept: %d lines already", *key, MAX_LINES)
            return
        self._lines[key] = self._lines[key].plus(line) if key in self._lines else line
        self._ledger.record(USAGE_KEY, self.report())

    def add_tokens(self, provider: str, model: str, input_tokens: int, output_tokens: int) -> None:
        """One model call and the tokens its response reported."""
        line = UsageLine(
            provider=provider, model=model[:MAX_NAME], calls=1,
            input_tokens=max(0, input_tokens), output_tokens=max(0, output_tokens),
        )  # fmt: skip
        self.add(line)

    def add_credits(self, provider: str, model: str, credits: int) -> None:
        """One paid call and the credits it consumed."""
        self.add(UsageLine(provider=provider, model=model[:MAX_NAME], calls=1, credits=credits))

    def report(self) -> list[dict[str, Any]]:
        """The lines for the termination message (zero counts left out)."""
        return [
            line.model_dump(exclude_defaults=True) | {"provider": line.provider}
            for line in self._lines.values()
        ]

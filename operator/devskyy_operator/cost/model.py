"""A task's cost as it is stored: in the CR status (`status.cost`, camelCase), the
Redis task hash (`cost`, JSON) and the history (`tasks.cost`, JSONB).

Amounts are decimal strings with six places (money.py); `total` is `resource`
plus `providers`, each the sum of its rounded lines.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from devskyy_operator.cost.money import parse_amount

AMOUNT_PATTERN = r"^[0-9]+\.[0-9]{6}$"
MAX_LINES = 16


class _Shape(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class ProviderCost(_Shape):
    """One provider (and model) a task paid: what it reported and what that costs."""

    provider: str = Field(max_length=64, description="openai, anthropic, google, tripo, fashn.")
    model: str = Field(default="", max_length=64, description="Model or operation priced.")
    calls: int = Field(default=0, ge=0, description="Paid calls.")
    input_tokens: int = Field(default=0, ge=0, description="Tokens in (prompt).")
    output_tokens: int = Field(default=0, ge=0, description="Tokens out (completion).")
    credits: int = Field(default=0, ge=0, description="Provider credits consumed.")
    amount: str = Field(pattern=AMOUNT_PATTERN, max_length=32, description="Cost of the line.")
    priced: bool = Field(default=True, description="False: no price configured for it (amount 0).")


class TaskCost(_Shape):
    """Resource cost (requests x run time) plus provider spend, in one currency."""

    currency: str = Field(max_length=3, description="ISO 4217 code of every amount.")
    total: str = Field(pattern=AMOUNT_PATTERN, max_length=32, description="resource + providers.")
    resource: str = Field(
        pattern=AMOUNT_PATTERN, max_length=32, description="Requested CPU and memory x run time."
    )
    providers: str = Field(
        pattern=AMOUNT_PATTERN, max_length=32, description="Sum of the provider lines."
    )
    run_seconds: float = Field(ge=0, description="Job start to end, the resource cost's time.")
    cpu_request: str = Field(default="", max_length=64, description="Requested CPU priced.")
    memory_request: str = Field(default="", max_length=64, description="Requested memory priced.")
    provider_lines: list[ProviderCost] = Field(
        default_factory=list, max_length=MAX_LINES, description="Provider spend by model."
    )

    @property
    def total_micros(self) -> int:
        return parse_amount(self.total)

    def record_json(self) -> str:
        """The compact snake_case JSON the Redis hash and the history keep."""
        return self.model_dump_json()

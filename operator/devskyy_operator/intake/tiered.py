"""A request placed in its user's tier: the tier comes from the settings, never from
the request, and the requested priority is moved into the tier's band (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from devskyy_agents.models import TaskSpec
from devskyy_operator.admission.tiers import banded_priority
from devskyy_operator.redisq.records import REQUESTED_PRIORITY_FIELD, TIER_FIELD
from devskyy_operator.settings import Settings


@dataclass(frozen=True)
class Tiered:
    spec: TaskSpec  # its priority is the banded one: what the queue and the CR carry
    tier: str
    requested_priority: int

    def hash_fields(self) -> dict[str, str]:
        return {TIER_FIELD: self.tier, REQUESTED_PRIORITY_FIELD: str(self.requested_priority)}


def placement(settings: Settings) -> Callable[[TaskSpec], tuple[TaskSpec, Mapping[str, str]]]:
    """`place_in_tier` as the dead-letter retry takes it (spec in, spec and fields out)."""

    def place(spec: TaskSpec) -> tuple[TaskSpec, Mapping[str, str]]:
        placed = place_in_tier(spec, settings)
        return placed.spec, placed.hash_fields()

    return place


def place_in_tier(spec: TaskSpec, settings: Settings) -> Tiered:
    tier = settings.tier_of(spec.user_id)
    priority = banded_priority(spec.priority, settings.tiers[tier])
    placed = spec if priority == spec.priority else spec.model_copy(update={"priority": priority})
    return Tiered(placed, tier, spec.priority)

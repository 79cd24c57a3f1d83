"""User tiers: the priority band a request lands in, the band check of a CR, and
each tier's share of a type's concurrency. Pure; the settings are passed in.

Trust model: the API decides a task's tier from the user (`Settings.tier_of`),
never from the request, and places the requested priority into the tier's band;
the bridge copies the tier into the CR's `devskyy.io/tier` label. A CR created
with kubectl may carry that label too: RBAC on devskyytasks is the boundary
(whoever may create them is trusted with every tier), and the operator still
refuses a label naming no tier or a priority outside the named tier's band. A
CR without the label is untiered: its priority counts as written and no tier
share caps it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from devskyy_operator import keys
from devskyy_operator.admission.limits import LimitProblem
from devskyy_operator.settings import Settings, TierPolicy

TIER_FIELD = f"metadata.labels.{keys.LABEL_TIER}"


def banded_priority(requested: int, band: TierPolicy) -> int:
    """The requested priority as an offset from the band's bottom, capped at its top:
    the order of one user's tasks is kept, and no request leaves the band."""
    return min(band.priority_max, band.priority_min + max(0, requested))


def tier_problems(tier: str, priority: int, settings: Settings) -> list[LimitProblem]:
    """Why a CR's tier label cannot stand: no such tier, or a priority outside its band."""
    if not tier:
        return []
    band = settings.tiers.get(tier)
    if band is None:
        known = ", ".join(sorted(settings.tiers))
        return [LimitProblem(TIER_FIELD, f"unknown tier {tier!r} (known: {known})")]
    if not band.priority_min <= priority <= band.priority_max:
        return [
            LimitProblem(
                "priority",
                f"{priority} is outside tier {tier}'s band "
                f"{band.priority_min}..{band.priority_max}",
            )
        ]
    return []


def tier_share(limit: int, band: TierPolicy) -> int | None:
    """Running tasks of one type a tier may hold: its share of the type's limit,
    rounded up (a share never rounds a running type down to 0), or None: no cap."""
    if band.concurrency_share >= 1:
        return None
    return math.ceil(limit * band.concurrency_share)


def tier_limits(
    concurrency: Mapping[str, int], tiers: Mapping[str, TierPolicy]
) -> dict[tuple[str, str], int]:
    """(task type, tier) -> the most running tasks that tier may hold; capped tiers only."""
    caps: dict[tuple[str, str], int] = {}
    for kind, limit in concurrency.items():
        for name, band in tiers.items():
            share = tier_share(limit, band)
            if share is not None:
                caps[(kind, name)] = share
    return caps

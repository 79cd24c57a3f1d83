"""User tiers: the band a request lands in, the CR's tier check, the per-tier shares
of a type's concurrency, and the settings that declare them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from devskyy_agents.models import DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY, parse_spec
from devskyy_operator import keys
from devskyy_operator.admission.policy import admit
from devskyy_operator.admission.tiers import (
    TIER_FIELD,
    banded_priority,
    tier_limits,
    tier_problems,
    tier_share,
)
from devskyy_operator.controller import plan as p
from devskyy_operator.controller.decide import decide
from devskyy_operator.crd.task_view import TaskView, task_view_from_body
from devskyy_operator.intake.tiered import place_in_tier
from devskyy_operator.settings import Settings, TierPolicy
from tests.unit.factories import T0, body

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

SETTINGS = Settings()
FREE, PRO, ENTERPRISE = (SETTINGS.tiers[n] for n in ("free", "pro", "enterprise"))
priorities = st.integers(min_value=MIN_PRIORITY, max_value=MAX_PRIORITY)


def tiered(name: str, tier: str | None, priority: int, seconds: int = 0, **kw: Any) -> TaskView:
    created = (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    raw = body(name, priority=priority, created=created, **kw)
    if tier is not None:
        raw["metadata"]["labels"] = {keys.LABEL_TIER: tier}
    return task_view_from_body(raw)


# ------------------------------------------------------------------ the band


def test_a_free_users_best_stays_below_an_enterprise_users_default() -> None:
    assert banded_priority(MAX_PRIORITY, FREE) == FREE.priority_max == 299
    assert banded_priority(DEFAULT_PRIORITY, ENTERPRISE) == 700
    assert banded_priority(MAX_PRIORITY, PRO) < banded_priority(MIN_PRIORITY, ENTERPRISE)
    assert banded_priority(MAX_PRIORITY, FREE) < banded_priority(MIN_PRIORITY, PRO)


@given(priorities, priorities)
def test_the_band_holds_every_request_and_keeps_a_users_order(a: int, b: int) -> None:
    for band in (FREE, PRO, ENTERPRISE):
        placed_a, placed_b = banded_priority(a, band), banded_priority(b, band)
        assert band.priority_min <= placed_a <= band.priority_max
        if a <= b:
            assert placed_a <= placed_b  # never reversed (capped ones tie at the top)
    assert banded_priority(a, FREE) < banded_priority(b, ENTERPRISE)


def test_the_api_takes_the_tier_from_the_user_never_the_request() -> None:
    settings = Settings(user_tiers={"bob": "enterprise"})
    spec = parse_spec({"type": "diagnostic", "priority": 1000, "input": {"user_id": "alice"}})
    free = place_in_tier(spec, settings)
    assert (free.tier, free.spec.priority, free.requested_priority) == ("free", 299, 1000)
    assert free.hash_fields() == {"tier": "free", "requested_priority": "1000"}
    bobs = spec.model_copy(update={"input": {"user_id": "bob"}})
    assert place_in_tier(bobs, settings).spec.priority == 1000
    assert place_in_tier(bobs.model_copy(update={"priority": 5}), settings).spec.priority == 605


# ------------------------------------------------------------------ the CR's label


def test_a_cr_tier_must_exist_and_hold_its_priority() -> None:
    assert tier_problems("", 1000, SETTINGS) == []  # untiered: as written (kubectl)
    assert tier_problems("free", 299, SETTINGS) == []
    [outside] = tier_problems("free", 700, SETTINGS)
    assert outside.field == "priority"
    assert outside.message == "700 is outside tier free's band 0..299"
    [unknown] = tier_problems("gold", 700, SETTINGS)
    assert unknown.field == TIER_FIELD == "metadata.labels.devskyy.io/tier"
    assert unknown.message == "unknown tier 'gold' (known: enterprise, free, pro)"


def test_a_forged_band_is_refused_without_a_job() -> None:
    plan = decide(tiered("task-1", "free", 900), None, [], T0, SETTINGS)
    assert plan.status is not None
    patch = plan.status.patch()
    assert (patch["phase"], patch["reason"]) == ("Failed", "InvalidSpec")
    assert patch["message"] == "spec.priority: 900 is outside tier free's band 0..299"
    failures = [r for r in plan.records if isinstance(r, p.RecordFailure)]
    assert [f.failure.error for f in failures] == [patch["message"]]
    unknown = decide(tiered("task-1", "gold", 100), None, [], T0, SETTINGS).status
    assert unknown is not None
    assert unknown.patch()["message"].startswith("metadata.labels.devskyy.io/tier: unknown tier")


def test_a_task_in_its_band_or_untiered_is_queued() -> None:
    for task, tier in ((tiered("task-1", "enterprise", 700), "enterprise"),
                       (tiered("task-1", None, 1000), "")):  # fmt: skip
        plan = decide(task, None, [], T0, SETTINGS)
        assert plan.status is not None
        assert plan.status.patch()["phase"] == "Queued"
        assert plan.records == (p.EnsureRecord(task.spec, task.queued_at, "kubectl", tier),)


# ------------------------------------------------------------------ shares of concurrency


def test_a_share_rounds_up_and_one_means_no_cap() -> None:
    half = TierPolicy(priority_min=0, priority_max=1, concurrency_share=0.5)
    assert [tier_share(n, half) for n in (0, 1, 3, 10)] == [0, 1, 2, 5]
    assert tier_share(10, FREE) is None
    caps = tier_limits({"diagnostic": 3, "ml_training": 2}, {"free": half, "pro": PRO})
    assert caps == {("diagnostic", "free"): 2, ("ml_training", "free"): 1}


def test_a_free_backlog_leaves_the_slots_its_share_does_not_cover() -> None:
    backlog = [tiered(f"free-{i}", "free", 299, seconds=i) for i in range(6)]
    late = tiered("ent-1", "enterprise", 700, seconds=60)
    limits = {"diagnostic": 4}
    caps = {("diagnostic", "free"): 2}
    running = {("diagnostic", "free"): 1}
    chosen = admit([*backlog, late], {"diagnostic": 1}, limits, T0,
                   tier_caps=caps, running_by_tier=running)  # fmt: skip
    # Enterprise first (its band), then free up to its share (1 running + 1 more).
    assert [t.name for t in chosen] == ["ent-1", "free-0"]
    # Without caps, free fills what enterprise leaves.
    assert len(admit(backlog, {}, limits, T0)) == 4
    # An untiered (kubectl) task is not capped by any tier's share.
    untiered = [tiered(f"k-{i}", None, 100, seconds=i) for i in range(3)]
    assert len(admit(untiered, {}, limits, T0, tier_caps=caps)) == 3


def test_an_enterprise_task_queued_last_starts_first() -> None:
    backlog = [tiered(f"free-{i}", "free", 299, seconds=i) for i in range(50)]
    late = tiered("ent-1", "enterprise", 600, seconds=3600)
    assert [t.name for t in admit([*backlog, late], {}, {"diagnostic": 1}, T0)] == ["ent-1"]


# ------------------------------------------------------------------ the settings


def test_built_in_tiers_and_partial_overrides() -> None:
    settings = Settings.model_validate(
        {"tiers": {"free": {"maxQueued": 5}, "gold": {"priority_min": 900, "priority_max": 950}},
         "user_tiers": {"carol": "gold"}, "default_tier": "pro"}
    )  # fmt: skip
    assert settings.tiers["free"] == FREE.model_copy(update={"max_queued": 5})
    assert settings.tiers["gold"].priority_min == 900
    assert (settings.tier_of("carol"), settings.tier_of("anyone")) == ("gold", "pro")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"default_tier": "gold"}, "default_tier: unknown tier 'gold'"),
        ({"user_tiers": {"bob": "gold"}}, "user_tiers: unknown tier for bob=gold"),
        ({"tiers": {"Gold": {"priority_min": 1, "priority_max": 2}}}, "tiers: Gold"),
        ({"tiers": {"free": {"priority_min": 300}}}, "priority_min 300 is above priority_max 299"),
        (
            {"tiers": {"free": {"concurrency_share": 0}}},
            "tiers.free.concurrencyShare\n  Input should be greater than 0",
        ),
        ({"tiers": {"gold": {"priority_min": 1}}}, "tiers.gold.priorityMax\n  Field required"),
    ],
)
def test_bad_tiers_are_refused_naming_the_field(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate(values)
    assert message in str(caught.value)

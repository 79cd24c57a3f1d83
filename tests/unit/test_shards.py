"""Shards: the stable task -> shard function, the limit split, the Lease plan."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from devskyy_operator import keys
from devskyy_operator.admission.shards import (
    ShardView,
    admit_in_shards,
    fair_share,
    plan_shards,
    shard_limit,
    shard_of,
)
from devskyy_operator.controller.shards import member_lease_name, shard_lease_name, survey
from devskyy_operator.settings import Settings
from tests.unit.factories import view

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

NOW = datetime(2026, 1, 1, tzinfo=UTC)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=63)


@given(names, st.integers(min_value=1, max_value=64))
def test_shard_is_sha256_prefix_mod_n(name: str, shards: int) -> None:
    digest = hashlib.sha256(name.encode()).hexdigest()
    expected = int(digest[:16], 16) % shards if shards > 1 else 0
    assert shard_of(name, shards) == expected
    assert 0 <= shard_of(name, shards) < shards


def test_shard_is_the_same_in_another_process_with_another_hash_seed() -> None:
    tasks = [f"task-{i}" for i in range(50)]
    code = (
        "from devskyy_operator.admission.shards import shard_of;"
        f"print([shard_of(n, 7) for n in {tasks!r}])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout.strip()
        for seed in ("1", "2")
    }  # fmt: skip
    assert outputs == {str([shard_of(n, 7) for n in tasks])}


def test_shards_spread_names_evenly() -> None:
    counts = Counter(shard_of(f"task-{i:05d}", 4) for i in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(800 < n < 1200 for n in counts.values()), counts


def test_zero_shards_is_an_error() -> None:
    with pytest.raises(ValueError, match="shards"):
        shard_of("a", 0)


@given(st.integers(min_value=0, max_value=500), st.integers(min_value=1, max_value=64))
def test_shard_limits_add_up_to_the_limit_and_differ_by_at_most_one(
    limit: int, shards: int
) -> None:
    parts = [shard_limit(limit, s, shards) for s in range(shards)]
    assert sum(parts) == limit
    assert max(parts) - min(parts) <= 1


def test_one_shard_admits_within_the_whole_limit() -> None:
    tasks = [view(f"t-{i}") for i in range(5)]
    chosen = admit_in_shards(tasks, {0: {"diagnostic": 1}}, {"diagnostic": 3}, {0}, 1)
    assert len(chosen) == 2


@given(
    st.lists(names, min_size=1, max_size=40, unique=True),
    st.integers(min_value=2, max_value=5),
    st.integers(min_value=0, max_value=12),
)
def test_replicas_together_never_exceed_a_limit(
    task_names: list[str], shards: int, limit: int
) -> None:
    """Each shard on its own replica, each deciding alone: the union stays in the limit,
    and each replica only starts tasks of its own shard."""
    tasks = [view(n) for n in task_names]
    started = []
    for shard in range(shards):
        mine = admit_in_shards(tasks, {}, {"diagnostic": limit}, {shard}, shards)
        assert all(shard_of(t.name, shards) == shard for t in mine)
        started += mine
    assert len(started) <= limit
    assert len({t.name for t in started}) == len(started)
    waiting_per_shard = Counter(shard_of(n, shards) for n in task_names)
    expected = sum(min(waiting_per_shard[s], shard_limit(limit, s, shards)) for s in range(shards))
    assert len(started) == expected


def test_running_tasks_of_a_shard_use_its_part() -> None:
    tasks = [view(f"t-{i}") for i in range(40)]
    shard = shard_of("t-0", 2)
    chosen = admit_in_shards(tasks, {shard: {"diagnostic": 2}}, {"diagnostic": 4}, {shard}, 2)
    assert chosen == []  # its part (2 of 4) is used up; the other shard is not held


@pytest.mark.parametrize(
    ("shards", "live", "share"), [(1, 1, 1), (2, 1, 2), (2, 2, 1), (2, 3, 1), (5, 2, 3), (4, 0, 4)]
)
def test_fair_share_is_ceil_of_shards_over_live(shards: int, live: int, share: int) -> None:
    assert fair_share(shards, live) == share


def test_alone_a_replica_takes_every_free_shard() -> None:
    assert plan_shards(3, set(), set(), 1).acquire == (0, 1, 2)


def test_a_second_replica_makes_the_first_hand_over_its_highest_shard() -> None:
    moves = plan_shards(2, {0, 1}, set(), 2)
    assert moves.release == (1,)
    assert moves.acquire == ()
    joiner = plan_shards(2, set(), {0, 1}, 2)
    assert joiner.acquire == ()
    assert joiner.release == ()
    assert plan_shards(2, set(), {0}, 2).acquire == (1,)


def test_a_survivor_takes_the_shards_of_a_dead_replica() -> None:
    # The dead replica's Leases expired: they are neither held by others nor live.
    assert plan_shards(4, {0, 2}, set(), 1).acquire == (1, 3)


def test_at_its_share_a_replica_takes_nothing_more() -> None:
    assert plan_shards(4, {1, 3}, {0}, 2) == plan_shards(4, {1, 3}, set(), 2)
    assert plan_shards(4, {1, 3}, {0}, 2).acquire == ()


def _lease(name: str, role: str | None, holder: str, age: float = 0.0) -> dict[str, Any]:
    renewed = (NOW - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    labels = {keys.LABEL_OPERATOR_LEASE: role} if role else {}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": renewed},
    }


def test_survey_counts_live_members_and_shards_held_by_others() -> None:
    leases = [
        _lease(member_lease_name("me"), "member", "me"),
        _lease(member_lease_name("b"), "member", "b", age=3),
        _lease(member_lease_name("dead"), "member", "dead", age=90),
        _lease(member_lease_name("gone"), "member", "", age=1),  # released
        _lease(shard_lease_name(0, 3), "shard", "me"),
        _lease(shard_lease_name(1, 3), "shard", "b", age=3),
        _lease(shard_lease_name(2, 3), "shard", "dead", age=60),
        _lease("unrelated", None, "x"),
    ]
    seen = survey(leases, "me", 3, NOW, 15)
    assert seen.live_replicas == 2
    assert seen.held_by_others == frozenset({1})
    assert [name for name, _ in seen.stale_members] == [member_lease_name("dead")]


def test_survey_counts_this_replica_before_its_member_lease_exists() -> None:
    assert survey([], "me", 2, NOW, 15).live_replicas == 1


def test_one_shard_keeps_todays_lease_name() -> None:
    assert shard_lease_name(0, 1) == "devskyy-operator"
    assert shard_lease_name(1, 2) == "devskyy-operator-shard-1"


def test_the_view_owns_the_tasks_of_held_shards_only() -> None:
    shard_view = ShardView("me", 2, {1})
    one = next(f"t-{i}" for i in range(100) if shard_of(f"t-{i}", 2) == 1)
    zero = next(f"t-{i}" for i in range(100) if shard_of(f"t-{i}", 2) == 0)
    assert shard_view.owns(one)
    assert not shard_view.owns(zero)
    assert not shard_view.leads_singletons
    assert ShardView().owns(zero)
    assert ShardView().leads_singletons


def test_settings_default_to_one_shard() -> None:
    assert Settings().shards == 1


def test_a_limit_below_the_shard_count_is_refused_naming_the_type() -> None:
    with pytest.raises(ValidationError, match=r"ml_training.*shards=3"):
        Settings(shards=3)  # ml_training's default limit is 2
    assert Settings(shards=3, concurrency={"ml_training": 3}).shards == 3
    assert Settings(shards=3, concurrency={"ml_training": 0}).shards == 3  # held: fine

"""Shards: which operator replica acts on which task, and how many slots each shard has.

Pure decisions. A task belongs to shard `shard_of(name, shards)`: the first
eight bytes of SHA-256 of its name, modulo the shard count — stable across
processes, versions and restarts (Python's hash() is salted per process). Each
shard is held through its own Lease by one replica; a replica holds a fair
share of the shards. The per-type concurrency limits stay global: each shard
admits at most its part of a limit (`shard_limits`), so the parts add up to
the limit and no coordination between replicas is needed to respect it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from devskyy_operator.admission.policy import admit, open_kinds
from devskyy_operator.admission.tiers import tier_limits
from devskyy_operator.crd.task_view import TaskView
from devskyy_operator.settings import TierPolicy

SINGLETON_SHARD = 0  # its holder also runs the cluster-wide work (retention, gauges)


@lru_cache(maxsize=65_536)
def shard_of(name: str, shards: int) -> int:
    """The shard of the task named `name` among `shards` (0 .. shards - 1)."""
    if shards < 1:
        raise ValueError(f"shards must be 1 or more, not {shards}")
    if shards == 1:
        return 0
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def in_shard(name: str, shard: int, shards: int) -> bool:
    return shard_of(name, shards) == shard


def shard_limit(limit: int, shard: int, shards: int) -> int:
    """Shard `shard`'s part of a global limit: an even split, the remainder to the
    first shards, so that the parts of all shards add up to exactly `limit`."""
    base, extra = divmod(limit, shards)
    return base + (1 if shard < extra else 0)


def shard_limits(limits: Mapping[str, int], shard: int, shards: int) -> dict[str, int]:
    """Every type's limit for one shard."""
    return {kind: shard_limit(limit, shard, shards) for kind, limit in limits.items()}


def open_kinds_in_shards(
    limits: Mapping[str, int], running: Mapping[int, Mapping[str, int]], held: Set[int], shards: int
) -> set[str]:
    """The types with a free slot in any held shard (`policy.open_kinds` per shard)."""
    return {
        kind
        for shard in held
        for kind in open_kinds(shard_limits(limits, shard, shards), running.get(shard, {}))
    }


def admit_in_shards(
    waiting: Sequence[TaskView],
    running: Mapping[int, Mapping[str, int]],
    limits: Mapping[str, int],
    held: Set[int],
    shards: int,
    now: datetime | None = None,
    *,
    tiers: Mapping[str, TierPolicy] | None = None,
    running_by_tier: Mapping[int, Mapping[tuple[str, str], int]] | None = None,
) -> list[TaskView]:
    """The tasks to start now in the `held` shards: per shard, its waiting tasks
    within its part of every limit, against what runs in that shard (`running`,
    per shard and type). Since the parts add up to the limits, the replicas
    together never run more of a type than its limit, whatever each one sees.
    Tier shares apply to each shard's part as they apply to a whole limit."""
    chosen: list[TaskView] = []
    for shard in sorted(held):
        mine = [t for t in waiting if shard_of(t.name, shards) == shard]
        parts = shard_limits(limits, shard, shards)
        chosen += admit(
            mine, running.get(shard, {}), parts, now,
            tier_caps=tier_limits(parts, tiers) if tiers else None,
            running_by_tier=(running_by_tier or {}).get(shard),
        )  # fmt: skip
    return chosen


def fair_share(shards: int, live_replicas: int) -> int:
    """The most shards one replica holds: ceil(shards / live replicas), at least 1."""
    live = max(1, live_replicas)
    return max(1, -(-shards // live))


@dataclass(frozen=True)
class ShardMoves:
    """What a replica does with its Leases this round."""

    acquire: tuple[int, ...]  # free shards to try, best first (lowest index)
    release: tuple[int, ...]  # held shards to hand over (highest index first)


def plan_shards(
    shards: int, held: Set[int], unavailable: Set[int], live_replicas: int
) -> ShardMoves:
    """Move toward holding a fair share.

    `held`: the shards this replica holds; `unavailable`: shards another replica
    holds on an unexpired Lease. Over the share, release the highest shards
    (shard 0, with the cluster-wide work, moves last); under it, try the lowest
    free shards up to the share. A replica always keeps one shard while it has
    one: the share is at least 1.
    """
    cap = fair_share(shards, live_replicas)
    if len(held) > cap:
        return ShardMoves((), tuple(sorted(held, reverse=True)[: len(held) - cap]))
    free = [s for s in range(shards) if s not in held and s not in unavailable]
    return ShardMoves(tuple(free[: cap - len(held)]), ())


@dataclass
class ShardView:
    """The shards this replica holds now (changed by the Lease keeper only).

    Everything that acts on a task asks `owns` first — the handlers, admission,
    the resync — and the singletons ask `leads_singletons`. The set is emptied
    the moment a Lease is lost or about to be released, before the Lease moves.
    """

    identity: str = ""
    shards: int = 1
    owned: set[int] = field(default_factory=lambda: {SINGLETON_SHARD})

    def owns(self, name: str) -> bool:
        return shard_of(name, self.shards) in self.owned

    @property
    def leads_singletons(self) -> bool:
        return SINGLETON_SHARD in self.owned

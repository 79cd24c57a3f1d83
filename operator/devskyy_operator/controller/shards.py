"""The shard Leases a replica holds: one Lease per shard, a fair share per replica.

One shard (the default) is today's leader election unchanged: the Lease
`devskyy-operator`, taken and renewed by `LeaderElector`. With N > 1 shards each
shard has the Lease `devskyy-operator-shard-<i>`, and each replica also renews
a membership Lease `devskyy-operator-member-<identity>`; every round (every
`retry_seconds`) one LIST of the labelled operator Leases tells a replica how
many replicas are live (unexpired membership Leases) and which shards others
hold. It then releases shards over its fair share, ceil(N / live), highest
first, and tries the lowest free ones up to it (`admission.shards.plan_shards`).

A shard is released only after everything acting on it stopped (`before_release`).
A shard Lease that cannot be renewed — taken by another replica, or no renewal
within the lease duration — is the leader's rule: stop acting at once and exit 1.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devskyy_operator import keys
from devskyy_operator.admission.shards import ShardView, plan_shards
from devskyy_operator.controller.leader import LeaderElector, current_holder
from devskyy_operator.crd.task_view import parse_time
from devskyy_operator.kube.client import ApiError, KubeClient, resource_path
from devskyy_operator.shutdown import wait_or_timeout

log = logging.getLogger("devskyy.leader")
LEASE_NAME = "devskyy-operator"  # the one Lease of an unsharded operator (as ever)
SHARD = "shard"
MEMBER = "member"
STALE_LEASES = 4  # a membership Lease expired this many lease durations ago is deleted


def shard_lease_name(shard: int, shards: int) -> str:
    return LEASE_NAME if shards == 1 else f"{LEASE_NAME}-shard-{shard}"


def member_lease_name(identity: str) -> str:
    return f"{LEASE_NAME}-member-{identity}"


@dataclass(frozen=True)
class Survey:
    live_replicas: int  # unexpired membership Leases (this replica included)
    held_by_others: frozenset[int]  # shards on an unexpired Lease of another replica
    # Membership Leases expired long ago (replicas gone): (name, resourceVersion).
    stale_members: tuple[tuple[str, str], ...] = ()


def survey(
    leases: Iterable[Mapping[str, Any]], identity: str, shards: int, now: datetime, seconds: int
) -> Survey:
    """Read the operator Leases of one namespace (pure)."""
    members = {identity}
    others: set[int] = set()
    stale: list[tuple[str, str]] = []
    names = {shard_lease_name(i, shards): i for i in range(shards)}
    long_ago = now - timedelta(seconds=STALE_LEASES * seconds)
    for lease in leases:
        meta = lease.get("metadata") or {}
        role = (meta.get("labels") or {}).get(keys.LABEL_OPERATOR_LEASE)
        holder = current_holder(lease, now, seconds)
        if not holder:
            renewed = parse_time((lease.get("spec") or {}).get("renewTime"))
            if role == MEMBER and (renewed is None or renewed < long_ago):
                stale.append((str(meta.get("name")), str(meta.get("resourceVersion") or "")))
            continue
        if role == MEMBER:
            members.add(holder)
        elif role == SHARD and meta.get("name") in names and holder != identity:
            others.add(names[meta["name"]])
    return Survey(len(members), frozenset(others), tuple(stale))


class ShardLost(Exception):
    """A shard Lease could not be renewed: this replica must stop acting."""


@dataclass
class ShardKeeper:
    kube: KubeClient
    namespace: str
    identity: str
    shards: int = 1
    lease_seconds: int = LeaderElector.lease_seconds
    renew_seconds: float = LeaderElector.renew_seconds
    retry_seconds: float = LeaderElector.retry_seconds
    lost: bool = False
    # Awaited before a shard's Lease is handed over: everything acting on it stops.
    before_release: Callable[[int], Awaitable[None]] | None = None
    # Told about a shard taken while running (its tasks need a look at once).
    on_acquired: Callable[[int], None] | None = None
    view: ShardView = field(init=False)

    def __post_init__(self) -> None:
        self.view = ShardView(self.identity, self.shards, set())
        self.electors = [
            self._elector(shard_lease_name(i, self.shards), SHARD) for i in range(self.shards)
        ]
        self.member = self._elector(member_lease_name(self.identity), MEMBER)
        self._renewed_at: float | None = None

    def _elector(self, name: str, role: str) -> LeaderElector:
        labels = {keys.LABEL_OPERATOR_LEASE: role} if self.shards > 1 else {}
        return LeaderElector(
            self.kube, self.namespace, self.identity, name=name,
            lease_seconds=self.lease_seconds, renew_seconds=self.renew_seconds,
            retry_seconds=self.retry_seconds, labels=labels,
        )  # fmt: skip

    @property
    def sharded(self) -> bool:
        return self.shards > 1

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this replica holds a shard (True) or `stop` is set (False)."""
        if not self.sharded:
            if not await self.electors[0].acquire(stop):
                return False
            self.view.owned.add(0)
            return True
        while not stop.is_set():
            try:
                await self.step()
            except ShardLost:  # cannot happen before a shard is held; be safe
                self.view.owned.clear()
            except (ApiError, OSError) as exc:
                log.warning("shard lease attempt failed: %s", exc)
            if self.view.owned:
                log.info("%s holds shards %s of %s", self.identity, self.owned(), self.shards)
                return True
            await wait_or_timeout(stop, self.retry_seconds)
        return False

    async def keep(self, until: asyncio.Event, lost: asyncio.Event) -> None:
        """Renew (and rebalance) until `until`; on a lost shard stop acting, set `lost`."""
        if not self.sharded:
            await self.electors[0].keep(until, lost)
            if self.electors[0].lost:
                self.lost = True
                self.view.owned.clear()
            return
        while not await wait_or_timeout(until, self.retry_seconds):
            try:
                await self.step()
            except ShardLost as exc:
                log.error("%s", exc)
                self.view.owned.clear()  # stop acting before anyone else can act
                self.lost = True
                lost.set()
                return
            except (ApiError, OSError) as exc:
                log.warning("shard lease round failed, retrying: %s", exc)

    def owned(self) -> list[int]:
        return sorted(self.view.owned)

    async def step(self) -> None:
        """One round: renew what is held (when due), look, release or acquire."""
        loop = asyncio.get_running_loop()
        if self._renewed_at is None or loop.time() - self._renewed_at >= self.renew_seconds:
            await self._renew(loop.time())
        now = datetime.now(UTC)
        path = resource_path("coordination.k8s.io/v1", "leases", self.namespace)
        leases = await self.kube.list(path, labelSelector=keys.LABEL_OPERATOR_LEASE)
        seen = survey(leases, self.identity, self.shards, now, self.lease_seconds)
        moves = plan_shards(self.shards, self.view.owned, seen.held_by_others, seen.live_replicas)
        if self.view.leads_singletons:  # garbage of replicas gone: one replica deletes it
            for name, version in seen.stale_members:
                await self.kube.delete(
                    resource_path("coordination.k8s.io/v1", "leases", self.namespace, name),
                    preconditions={"resourceVersion": version} if version else None,
                )
        for shard in moves.release:
            await self._release(shard)
        for shard in moves.acquire:
            if await self.electors[shard].try_acquire():
                self.view.owned.add(shard)
                log.info("%s took shard %s of %s", self.identity, shard, self.shards)
                if self.on_acquired is not None:
                    self.on_acquired(shard)

    async def _renew(self, started: float) -> None:
        """Renew the membership and every held shard; ShardLost when one is gone."""
        try:
            await self.member.try_acquire()
            for shard in self.owned():
                if not await self.electors[shard].try_acquire():
                    raise ShardLost(f"shard {shard} lost to another replica")
        except (ApiError, OSError) as exc:
            # Give up a round before the Lease (renewed at `last` or later) expires.
            last, margin = self._renewed_at, self.lease_seconds - self.retry_seconds
            if last is not None and self.view.owned and started - last >= margin:
                raise ShardLost(f"shard leases not renewed within {margin}s") from exc
            raise
        self._renewed_at = started

    async def _release(self, shard: int) -> None:
        self.view.owned.discard(shard)  # nothing new starts on it from here on
        if self.before_release is not None:
            await self.before_release(shard)
        await self.electors[shard].release()
        log.info("%s handed over shard %s (fair share)", self.identity, shard)

    async def release_all(self) -> bool:
        """On a clean stop, once nothing acts any more: hand every Lease over."""
        held = [0] if not self.sharded else self.owned()
        self.view.owned.clear()
        results = [await self.electors[shard].release() for shard in held]
        if self.sharded:
            results.append(await self.member.release())
        return all(results)

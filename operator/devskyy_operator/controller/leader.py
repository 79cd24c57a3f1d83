"""Leader election on a coordination.k8s.io Lease: one active operator per namespace.

Every replica waits for the Lease; only its holder watches, admits and records
outcomes. A holder that cannot renew within the lease duration stops acting
(and exits, so its Deployment restarts it as a standby). This gates everything
the operator does, including the admission loop, which kopf peering would not;
kopf peering also lets replicas of equal priority act together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devskyy_agents.clock import utc_iso
from devskyy_operator.crd.task_view import parse_time
from devskyy_operator.kube.client import ApiError, KubeClient, resource_path
from devskyy_operator.kube.errors import Conflict, NotFound
from devskyy_operator.shutdown import wait_or_timeout

log = logging.getLogger("devskyy.leader")


def current_holder(lease: Mapping[str, Any], now: datetime, default_seconds: int) -> str:
    """The identity holding `lease` at `now`; "" when unheld or expired."""
    spec = lease.get("spec") or {}
    holder = str(spec.get("holderIdentity") or "")
    renewed = parse_time(spec.get("renewTime"))
    duration = int(spec.get("leaseDurationSeconds") or default_seconds)
    expired = renewed is None or renewed + timedelta(seconds=duration) < now
    return "" if expired else holder


@dataclass
class LeaderElector:
    kube: KubeClient
    namespace: str
    identity: str
    name: str = "devskyy-operator"
    lease_seconds: int = 15
    renew_seconds: float = 5.0
    retry_seconds: float = 2.0
    lost: bool = False  # set when leadership was lost (not on a clean stop)
    labels: dict[str, str] = field(default_factory=dict)  # on a Lease this creates

    @property
    def path(self) -> str:
        return resource_path("coordination.k8s.io/v1", "leases", self.namespace, self.name)

    def _spec(self, now: datetime, acquired: str | None, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.lease_seconds,
            "acquireTime": acquired or utc_iso(now),  # metav1.MicroTime: microseconds
            "renewTime": utc_iso(now),
            "leaseTransitions": transitions,
        }

    async def try_acquire(self) -> bool:
        """One attempt to take or renew the Lease; True when we hold it."""
        now = datetime.now(UTC)
        try:
            lease = await self.kube.get(self.path)
        except NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": self.name,
                    "namespace": self.namespace,
                    **({"labels": dict(self.labels)} if self.labels else {}),
                },
                "spec": self._spec(now, None, 0),
            }
            try:
                await self.kube.create(
                    resource_path("coordination.k8s.io/v1", "leases", self.namespace), body
                )
                return True
            except Conflict:
                return False
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        current = current_holder(lease, now, self.lease_seconds)
        if current and current != self.identity:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.identity else 1)
        acquired = spec.get("acquireTime") if holder == self.identity else None
        lease["spec"] = self._spec(now, acquired, transitions)
        try:
            await self.kube.replace(self.path, lease)  # resourceVersion makes this a CAS
        except Conflict:
            return False
        return True

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until we lead (True) or `stop` is set (False)."""
        while not stop.is_set():
            try:
                if await self.try_acquire():
                    log.info("%s is the leader", self.identity)
                    return True
            except (ApiError, OSError) as exc:
                log.warning("lease attempt failed: %s", exc)
            await wait_or_timeout(stop, self.retry_seconds)
        return False

    async def keep(self, until: asyncio.Event, lost: asyncio.Event) -> None:
        """Renew until `until` is set; on losing the Lease set `self.lost` and `lost`."""
        last_ok = asyncio.get_running_loop().time()
        while not until.is_set():
            if await wait_or_timeout(until, self.renew_seconds):
                break
            try:
                if await self.try_acquire():
                    last_ok = asyncio.get_running_loop().time()
                    continue
                log.error("leadership lost to another replica")
            except (ApiError, OSError) as exc:
                if asyncio.get_running_loop().time() - last_ok < self.lease_seconds:
                    log.warning("lease renewal failed, retrying: %s", exc)
                    continue
                log.error("lease not renewed within %ss: %s", self.lease_seconds, exc)
            self.lost = True
            lost.set()
            return

    async def release(self) -> bool:
        """Hand the Lease over at once on a clean stop; True if released (or not ours).

        As client-go's ReleaseOnCancel does: clear holderIdentity, set
        leaseDurationSeconds to 1 and renewTime/acquireTime to now, keep
        leaseTransitions. A standby takes an unheld Lease on its next attempt
        instead of waiting out the lease duration. Only called once everything
        the Lease protects has stopped."""
        for _ in range(3):  # a conflict means the Lease moved: look again
            try:
                lease = await self.kube.get(self.path)
                spec = lease.get("spec") or {}
                if spec.get("holderIdentity") != self.identity:
                    return True
                now = utc_iso()
                lease["spec"] = {
                    **spec,
                    "holderIdentity": "",
                    "leaseDurationSeconds": 1,
                    "acquireTime": now,
                    "renewTime": now,
                }
                await self.kube.replace(self.path, lease)  # resourceVersion: a CAS
                return True
            except Conflict:
                continue
            except ApiError as exc:
                log.warning("lease not released (it expires in %ss): %s", self.lease_seconds, exc)
                return False
            except OSError as exc:
                log.warning("lease not released (it expires in %ss): %s", self.lease_seconds, exc)
                return False
        log.warning("lease not released after repeated conflicts; it expires on its own")
        return False

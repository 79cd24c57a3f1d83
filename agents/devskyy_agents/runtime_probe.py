"""What the runtime gives a task: its cgroup limits and its identity, as the container sees them.

The diagnostic task reports these so a test (or a person smoke-testing a
deployment) can compare the limits the kernel enforces with the ones the task
asked for. cgroup v2 (`memory.max`, `cpu.max`) is read when the container has
it, else cgroup v1 (`memory/memory.limit_in_bytes`, `cpu/cpu.cfs_quota_us`):
the local node runs on a v1 host. "No limit" ("max", -1, or v1's page-rounded
huge value) is None. The parsers are pure; `probe` reads the files.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 reports "unlimited" as LONG_MAX rounded down to a page; anything this
# large (>= 2**62 bytes, 4 EiB) is no limit.
_V1_UNLIMITED = 2**62


@dataclass(frozen=True)
class RuntimeReport:
    cgroup_version: int  # 1 or 2
    memory_limit_bytes: int | None  # None: no limit
    cpu_limit_millicores: int | None  # quota / period x 1000, rounded; None: no limit
    uid: int
    gid: int

    def as_dict(self) -> dict[str, int | None]:
        return asdict(self)


def parse_memory_max(text: str) -> int | None:
    """cgroup v2 `memory.max`: bytes, or "max"."""
    value = text.strip()
    return None if value == "max" else int(value)


def parse_cpu_max(text: str) -> int | None:
    """cgroup v2 `cpu.max`: "<quota> <period>" in microseconds, quota "max" for none."""
    quota, _, period = text.strip().partition(" ")
    if quota == "max":
        return None
    return millicores(int(quota), int(period or "100000"))


def parse_v1_memory_limit(text: str) -> int | None:
    value = int(text.strip())
    return None if value >= _V1_UNLIMITED else value


def parse_v1_cpu_quota(quota_text: str, period_text: str) -> int | None:
    quota = int(quota_text.strip())
    return None if quota < 0 else millicores(quota, int(period_text.strip()))


def millicores(quota_us: int, period_us: int) -> int:
    return round(quota_us * 1000 / period_us)


def probe(root: Path = CGROUP_ROOT) -> RuntimeReport:
    """Read the container's own limits (its cgroup namespace makes them the root's files)."""
    if (root / "cgroup.controllers").exists():
        return RuntimeReport(
            cgroup_version=2,
            memory_limit_bytes=parse_memory_max((root / "memory.max").read_text()),
            cpu_limit_millicores=parse_cpu_max((root / "cpu.max").read_text()),
            uid=os.getuid(),
            gid=os.getgid(),
        )
    cpu = root / "cpu"
    return RuntimeReport(
        cgroup_version=1,
        memory_limit_bytes=parse_v1_memory_limit(
            (root / "memory" / "memory.limit_in_bytes").read_text()
        ),
        cpu_limit_millicores=parse_v1_cpu_quota(
            (cpu / "cpu.cfs_quota_us").read_text(), (cpu / "cpu.cfs_period_us").read_text()
        ),
        uid=os.getuid(),
        gid=os.getgid(),
    )

"""What the diagnostic task reports of its runtime: cgroup v1 and v2 limits, "no limit"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devskyy_agents.runtime_probe import (
    parse_cpu_max,
    parse_memory_max,
    parse_v1_cpu_quota,
    parse_v1_memory_limit,
    probe,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]


def test_cgroup_v2_values_and_max() -> None:
    assert parse_memory_max("104857600\n") == 100 * 1024 * 1024
    assert parse_memory_max("max\n") is None
    assert parse_cpu_max("25000 100000\n") == 250
    assert parse_cpu_max("150000 100000") == 1500
    assert parse_cpu_max("max 100000\n") is None


def test_cgroup_v1_values_and_unlimited() -> None:
    assert parse_v1_memory_limit("536870912\n") == 512 * 1024 * 1024
    assert parse_v1_memory_limit("9223372036854771712\n") is None
    assert parse_v1_cpu_quota("50000\n", "100000\n") == 500
    assert parse_v1_cpu_quota("-1\n", "100000\n") is None


def test_probe_reads_v2_when_the_container_has_it(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "memory.max").write_text("67108864\n")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    report = probe(tmp_path)
    assert (report.cgroup_version, report.memory_limit_bytes, report.cpu_limit_millicores) == (
        2, 64 * 1024 * 1024, None,
    )  # fmt: skip
    assert (report.uid, report.gid) == (os.getuid(), os.getgid())


def test_probe_falls_back_to_v1(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("268435456\n")
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    report = probe(tmp_path).as_dict()
    assert report["cgroup_version"] == 1
    assert report["memory_limit_bytes"] == 256 * 1024 * 1024
    assert report["cpu_limit_millicores"] == 1000

"""Tools for the observability tests: helm (shared with tests/chart) and promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devskyy_devcluster.binaries import BUILD_SCRIPT, versions
from tests.chart.conftest import cache_dir, helm

__all__ = ["helm", "promtool"]


@pytest.fixture(scope="session")
def promtool() -> Path:
    """promtool built from its Go module by hack/cluster/build.sh (versions.env)."""
    binary = cache_dir() / f"promtool-{versions()['PROMTOOL_VERSION']}" / "bin" / "promtool"
    if not binary.exists():
        subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.DEVNULL)
    return binary

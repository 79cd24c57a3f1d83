"""Tools for the observability tests: helm (shared with tests/chart) and promtool."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.chart.conftest import cache_dir, helm

__all__ = ["helm", "promtool"]

# Prometheus publishes its Go module as v0.<major><minor>.<patch>; pinned like helm.
PROMTOOL_MODULE = "github.com/prometheus/prometheus/cmd/promtool@v0.316.0"


@pytest.fixture(scope="session")
def promtool() -> Path:
    """promtool from its Go module, built once into the devskyy cache."""
    binary = cache_dir() / "promtool" / "bin" / "promtool"
    if not binary.exists():
        with tempfile.TemporaryDirectory() as tmp:
            env = os.environ | {"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOBIN": tmp}
            subprocess.run(
                # remove_all_sd: no service-discovery SDKs (rules need none; 3x faster build)
                [
                    "go",
                    "install",
                    "-trimpath",
                    "-tags",
                    "remove_all_sd",
                    "-ldflags",
                    "-s -w",
                    PROMTOOL_MODULE,
                ],
                check=True,
                cwd=tmp,
                env=env,
            )
            binary.parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, "promtool").replace(binary)
    return binary

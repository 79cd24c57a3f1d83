"""Every benchmark script imports cleanly (they are run by hand, not by the suite,
so a refactor must not break them silently)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = [pytest.mark.unit, pytest.mark.timeout(120)]


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCH.glob("bench_*.py")))
def test_bench_script_imports(script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    module = importlib.import_module(script)
    assert callable(module.main)
    sys.modules.pop(script, None)

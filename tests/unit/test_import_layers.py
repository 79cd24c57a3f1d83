"""The import layers of pyproject.toml's [tool.importlinter] hold, and the check
really catches an upward import (so a green run means something)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGE_DIRS = {
    "devskyy_operator": ROOT / "operator" / "devskyy_operator",
    "devskyy_agents": ROOT / "agents" / "devskyy_agents",
    "devskyy_devcluster": ROOT / "hack" / "devcluster" / "devskyy_devcluster",
}

pytestmark = [pytest.mark.unit, pytest.mark.timeout(180)]


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_layer_contracts_are_kept() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """A copy of the packages where the Redis layer imports the controller."""
    for name, source in PACKAGE_DIRS.items():
        shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    claim = tmp_path / "devskyy_operator" / "redisq" / "claim.py"
    claim.write_text(
        claim.read_text() + "\nfrom devskyy_operator.controller import reconciler  # noqa\n"
    )
    done = lint_imports(tmp_path, pythonpath=tmp_path)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
    assert "devskyy_operator.redisq.claim -> devskyy_operator.controller.reconciler" in done.stdout

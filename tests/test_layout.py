"""The repository layout must not shadow stdlib or third-party packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def test_import_operator_from_repo_root_is_stdlib() -> None:
    code = "import operator, collections, sys; print(operator.__file__); print(operator.itemgetter)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "site-packages" not in out.splitlines()[0]
    assert Path(out.splitlines()[0]).parent != ROOT / "operator"
    assert "itemgetter" in out


@pytest.mark.parametrize("folder", ["operator", "agents"])
def test_top_level_folders_are_not_packages(folder: str) -> None:
    assert not (ROOT / folder / "__init__.py").exists()


def test_packages_have_unique_names() -> None:
    import devskyy_agents
    import devskyy_operator

    assert Path(devskyy_operator.__file__).parent == ROOT / "operator" / "devskyy_operator"
    assert Path(devskyy_agents.__file__).parent == ROOT / "agents" / "devskyy_agents"

"""The three images: multi-stage, pinned base, non-root numeric user, right extra and entrypoint."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.chart.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

IMAGES = {
    "control.Dockerfile": ("control", "devskyy-operator"),
    "task-api.Dockerfile": ("tasks-api", "devskyy-task"),
    "task-ml.Dockerfile": ("tasks-ml", "devskyy-task"),
}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_dockerfile_contract(name: str) -> None:
    extra, entrypoint = IMAGES[name]
    text = (ROOT / "task_images" / name).read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert extra in project["optional-dependencies"]
    assert entrypoint in project["scripts"]
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base is not None
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base.group(1))
    assert len(re.findall(r"^FROM ", text, re.M)) == 2  # builder + runtime
    # Dependencies (from pyproject.toml) in their own layer, then the project alone.
    assert f'p["optional-dependencies"]["{extra}"]' in text
    assert "pip install --no-compile -r /tmp/requirements.txt" in text
    install = f'--no-deps --no-build-isolation --prefix /opt/project ".[{extra}]"'
    assert f"pip install --no-compile {install}" in text
    assert "COPY --from=builder /opt/project /opt/venv" in text
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert f'ENTRYPOINT ["/opt/venv/bin/{entrypoint}"]' in text  # exec form: no shell
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    assert "HOME=/tmp" in text

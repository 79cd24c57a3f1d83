"""Fixtures for agent tests: loopback providers and a helper that runs `devskyy-task`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devskyy_agents.registry import RunContext
from tests.providers.base import serving
from tests.providers.fashn_server import FashnServer
from tests.providers.openai_server import OpenAIServer
from tests.providers.tripo_server import TripoServer
from tests.providers.wordpress_server import WordPressServer

TASK_BIN = Path(sys.executable).parent / "devskyy-task"


@pytest.fixture
def tripo() -> Iterator[TripoServer]:
    with serving(TripoServer()) as server:
        yield server


@pytest.fixture
def fashn() -> Iterator[FashnServer]:
    with serving(FashnServer()) as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with serving(OpenAIServer()) as server:
        yield server


@pytest.fixture
def wordpress() -> Iterator[WordPressServer]:
    with serving(WordPressServer()) as server:
        yield server


def wordpress_env(wp: WordPressServer) -> dict[str, str]:
    return {
        "WORDPRESS_URL": wp.url,
        "WORDPRESS_USER": wp.wp_auth[0],
        "WORDPRESS_APP_PASSWORD": wp.wp_auth[1],
        "WOOCOMMERCE_KEY": wp.wc_auth[0],
        "WOOCOMMERCE_SECRET": wp.wc_auth[1],
    }


def context(tmp_path: Path, **config: str) -> RunContext:
    return RunContext(
        config=config,
        artifacts_dir=tmp_path / "artifacts",
        datasets_dir=tmp_path / "datasets",
        models_dir=tmp_path / "models",
    )


@dataclass
class TaskRun:
    code: int
    message: dict[str, Any]
    stderr: str
    stdout: str = ""


def run_task(
    tmp_path: Path,
    spec: dict[str, Any] | None,
    task_id: str = "task-abc123",
    **env: str,
) -> TaskRun:
    """Run the real console script as a subprocess, as a pod would."""
    termination = tmp_path / f"termination-{task_id}"
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DEVSKYY_TASK_ID": task_id,
        "DEVSKYY_TERMINATION_LOG": str(termination),
        "DEVSKYY_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "DEVSKYY_DATASETS_DIR": str(tmp_path / "datasets"),
        "DEVSKYY_MODELS_DIR": str(tmp_path / "models"),
        "TRIPO_POLL_INTERVAL": "0.02",
        "FASHN_POLL_INTERVAL": "0.02",
        **env,
    }
    if spec is not None:
        full_env["DEVSKYY_TASK_SPEC"] = json.dumps(spec)
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in os.environ:
            full_env[key] = os.environ[key]
    proc = subprocess.run(
        [str(TASK_BIN)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    raw = termination.read_bytes() if termination.exists() else b""
    assert len(raw) <= 4096
    return TaskRun(proc.returncode, json.loads(raw) if raw else {}, proc.stderr, proc.stdout)

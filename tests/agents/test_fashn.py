"""fashn_tryon against the loopback FASHN server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agents.conftest import run_task
from tests.providers.fashn_server import FashnServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SPEC = {
    "type": "fashn_tryon",
    "input": {
        "user_id": "user-1",
        "model_image": "https://example.com/model.jpg",
        "garment_image": "https://example.com/hoodie.png",
        "category": "tops",
    },
}


def env(server: FashnServer) -> dict[str, str]:
    return {"FASHN_API_KEY": server.api_key, "FASHN_API_BASE": f"{server.url}/v1"}


def test_tryon_success(tmp_path: Path, fashn: FashnServer) -> None:
    run = run_task(tmp_path, SPEC, **env(fashn))
    assert run.code == 0, run.stderr
    assert run.message["result"] == {
        "prediction_id": "pred-1",
        "images": ["https://cdn.fashn.ai/pred-1/output_0.png"],
    }
    sent = fashn.requests[0].json()
    assert sent["model_name"] == "tryon-v1.6"
    assert sent["inputs"]["category"] == "tops"


def test_tryon_failure_is_permanent(tmp_path: Path, fashn: FashnServer) -> None:
    fashn.final_status = "failed"
    run = run_task(tmp_path, SPEC, **env(fashn))
    assert run.code == 42
    assert "PoseError" in run.message["error"]


def test_tryon_bad_key(tmp_path: Path, fashn: FashnServer) -> None:
    run = run_task(tmp_path, SPEC, FASHN_API_KEY="wrong-key", FASHN_API_BASE=f"{fashn.url}/v1")
    assert run.code == 42
    assert run.message["error_type"] == "CredentialsRejected"


def test_tryon_rate_limited_then_ok(tmp_path: Path, fashn: FashnServer) -> None:
    fashn.fail_next("status", 429, path_prefix="/v1/status", headers={"Retry-After": "0"})
    run = run_task(tmp_path, SPEC, **env(fashn))
    assert run.code == 0, run.stderr

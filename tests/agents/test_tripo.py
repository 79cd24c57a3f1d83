"""generate_3d against the loopback Tripo3D and WordPress servers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devskyy_agents.errors import UnsafeUrl
from devskyy_agents.http import AddressPolicy, guarded_client
from devskyy_agents.models import Generate3DInput
from devskyy_agents.tripo import TripoAssetAgent, build_prompt
from tests.agents.conftest import context, run_task, wordpress_env
from tests.providers.tripo_server import GLB, TripoServer
from tests.providers.wordpress_server import WordPressServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SPEC = {
    "type": "generate_3d",
    "input": {
        "user_id": "user-1",
        "prompt": "rose embroidered hoodie",
        "style": "realistic",
        "collection": "BLACK",
        "garment_type": "hoodie",
        "product_name": "BLACK Rose Hoodie",
    },
}


def tripo_env(server: TripoServer, **extra: str) -> dict[str, str]:
    return {"TRIPO_API_KEY": server.api_key, "TRIPO_API_BASE": server.url, **extra}


def test_text_to_model_success(tmp_path: Path, tripo: TripoServer) -> None:
    run = run_task(tmp_path, SPEC, **tripo_env(tripo))
    assert run.code == 0, run.stderr
    result = run.message["result"]
    assert result["task_id"] == "tripo-1"
    assert result["model_url"].endswith("/model.glb")
    assert result["texture_url"].endswith("/pbr_model.glb")
    assert result["preview_url"].endswith("/preview.png")
    created = next(r for r in tripo.requests if r.method == "POST")
    assert created.json() == {
        "type": "text_to_model",
        "prompt": build_prompt(Generate3DInput.model_validate(SPEC["input"])),
    }
    assert "BLACK collection" in created.json()["prompt"]
    assert tripo.api_key not in run.stderr


def test_assets_published_to_wordpress_product(
    tmp_path: Path, tripo: TripoServer, wordpress: WordPressServer
) -> None:
    run = run_task(tmp_path, SPEC, **tripo_env(tripo), **wordpress_env(wordpress))
    assert run.code == 0, run.stderr
    media_ids = run.message["result"]["wordpress_media_ids"]
    assert len(media_ids) == 2
    assert wordpress.media[media_ids[1]]["size"] == len(GLB)
    product = wordpress.products[101]
    assert {"id": media_ids[0]} in product["images"]
    assert {"id": 7} in product["images"]
    meta = {m["key"]: m["value"] for m in product["meta_data"]}
    assert meta["_devskyy_3d_model_url"].endswith("/model.glb")
    assert wordpress.wp_auth[1] not in run.stderr


def test_missing_key_is_permanent_with_clear_message(tmp_path: Path) -> None:
    run = run_task(tmp_path, SPEC)
    assert run.code == 42
    assert run.message["error_type"] == "MissingCredentials"
    assert "TRIPO_API_KEY" in run.message["error"]


def test_rejected_key_is_permanent(tmp_path: Path, tripo: TripoServer) -> None:
    run = run_task(tmp_path, SPEC, TRIPO_API_KEY="tsk_wrong_key_123", TRIPO_API_BASE=tripo.url)
    assert run.code == 42
    assert run.message["error_type"] == "CredentialsRejected"
    assert "tsk_wrong_key_123" not in run.stderr + str(run.message)


def test_429_with_retry_after_then_success(tmp_path: Path, tripo: TripoServer) -> None:
    tripo.fail_next("status", 429, path_prefix="/task", headers={"Retry-After": "1"})
    started = time.monotonic()
    run = run_task(tmp_path, SPEC, **tripo_env(tripo))
    assert run.code == 0, run.stderr
    assert time.monotonic() - started >= 1.0
    assert [r.path for r in tripo.requests[:2]] == ["/task", "/task"]


def test_malformed_status_json_is_polled_again(tmp_path: Path, tripo: TripoServer) -> None:
    tripo.fail_next("malformed", path_prefix="/task/")
    run = run_task(tmp_path, SPEC, **tripo_env(tripo))
    assert run.code == 0, run.stderr


def test_malformed_json_on_create_is_retryable(tmp_path: Path, tripo: TripoServer) -> None:
    tripo.fail_next("malformed", path_prefix="/task")
    run = run_task(tmp_path, SPEC, **tripo_env(tripo))
    assert run.code == 75
    assert run.message["error"] == "Tripo3D sent malformed JSON"


def test_persistent_5xx_is_retryable(tmp_path: Path, tripo: TripoServer) -> None:
    tripo.fail_next("status", 500, times=50)
    run = run_task(tmp_path, SPEC, **tripo_env(tripo), DEVSKYY_TASK_DEADLINE=str(time.time() + 4))
    assert run.code == 75
    assert run.message["error_type"] in ("ProviderUnavailable", "DeadlineExceeded")


def test_hanging_provider_ends_at_deadline(tmp_path: Path, tripo: TripoServer) -> None:
    tripo.fail_next("hang", times=5)
    started = time.monotonic()
    run = run_task(tmp_path, SPEC, **tripo_env(tripo), DEVSKYY_TASK_DEADLINE=str(time.time() + 3))
    assert run.code == 75
    assert time.monotonic() - started < 25


@pytest.mark.parametrize("status", ["failed", "banned", "expired", "cancelled"])
def test_provider_side_failure_is_permanent(
    tmp_path: Path, tripo: TripoServer, status: str
) -> None:
    tripo.final_status = status
    run = run_task(tmp_path, SPEC, **tripo_env(tripo))
    assert run.code == 42
    assert run.message["error_type"] == "ProviderTaskFailed"
    assert status in run.message["error"]


async def test_image_to_model_uploads_the_fetched_image(tmp_path: Path, tripo: TripoServer) -> None:
    # The image host is the loopback server, so this test relaxes the address policy;
    # the input is built without validation for the same reason.
    task = Generate3DInput.model_construct(
        user_id="user-1",
        prompt="",
        image_url=f"{tripo.url}/files/x/photo.png",
        style="realistic",
        product_name=None,
        collection="SIGNATURE",
        garment_type="tee",
    )
    ctx = context(tmp_path, **tripo_env(tripo), TRIPO_POLL_INTERVAL="0.01")
    ctx.user_http = guarded_client(
        policy=AddressPolicy(
            allow=lambda a: a.is_loopback,
            check_host=lambda h: None,
            allowed_schemes=frozenset({"http"}),
            allowed_ports=None,
        )
    )
    try:
        output = await TripoAssetAgent().run("task-img", task, ctx)
    finally:
        await ctx.aclose()
    assert output.result.model_url.endswith("model.glb")
    upload = next(r for r in tripo.requests if r.path == "/upload")
    assert b"fake-preview" in upload.body
    created = next(r for r in tripo.requests if r.path == "/task" and r.method == "POST")
    assert created.json() == {
        "type": "image_to_model",
        "file": {"type": "png", "file_token": "img-token-1"},
    }


async def test_default_guard_refuses_loopback_image(tmp_path: Path, tripo: TripoServer) -> None:
    task = Generate3DInput.model_construct(
        user_id="user-1",
        prompt="",
        image_url=f"{tripo.url}/files/x/photo.png",
        style="realistic",
        product_name=None,
        collection="SIGNATURE",
        garment_type="tee",
    )
    ctx = context(tmp_path, **tripo_env(tripo))
    try:
        with pytest.raises(UnsafeUrl):
            await TripoAssetAgent().run("task-img", task, ctx)
    finally:
        await ctx.aclose()
    assert not any(r.path == "/upload" for r in tripo.requests)

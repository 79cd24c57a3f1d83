"""generate_3d through Tripo3D's v2 OpenAPI (https://api.tripo3d.ai/v2/openapi).

Contract used: Bearer auth; every answer is an envelope {"code": 0, "data": {...}}
(non-zero code = refused). POST /task starts text_to_model or image_to_model and
returns data.task_id; GET /task/{id} reports status queued/running/success or the
terminal failed/cancelled/banned/expired, and on success output.model,
output.pbr_model and output.rendered_image URLs. POST /upload takes a multipart
image and returns data.image_token, which image_to_model references. The user's
image is fetched by this pod through the SSRF-guarded client and then uploaded,
so Tripo never dereferences a user URL on our behalf.

A Tripo task is paid for: its id goes into the task's ledger the moment Tripo
returns it, and a retry polls that task instead of starting another. Whatever
the provider then reports is final, as on a first attempt (a failed task fails
ours permanently). Only a create whose answer was lost in transit can repeat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from devskyy_agents.clock import utc_iso
from devskyy_agents.errors import ProviderRequestRejected, ProviderTaskFailed, ProviderUnavailable
from devskyy_agents.http import check_config_url, fetch_user_url, json_body, make_client, request
from devskyy_agents.models import Generate3DInput, Generate3DOutput, Generate3DResult, TaskInput
from devskyy_agents.poll import PollClock
from devskyy_agents.registry import RunContext
from devskyy_agents.wordpress import publish_assets

log = logging.getLogger(__name__)

DEFAULT_BASE = "https://api.tripo3d.ai/v2/openapi"
PROVIDER = "Tripo3D"
RUNNING = frozenset({"queued", "running", "unknown"})
FAILED = frozenset({"failed", "cancelled", "banned", "expired"})
IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
MAX_PROMPT = 1024
MAX_POLL_FAULTS = 3
TASK_KEY = "tripo:task"
CREATING_KEY = "tripo:creating"
CHARGED_KEY = "tripo:charged"
USAGE_NAME = "tripo"
# Tripo's answers carry no per-task charge; its pricing page does
# (docs.tripo3d.ai/get-started/pricing: text to model 20, image to model 30
# credits with texture, our default; failed tasks are not charged).
CREDITS = {"text_to_model": 20, "image_to_model": 30}


def build_prompt(task: Generate3DInput) -> str:
    """The user's prompt shaped by style, garment type and collection."""
    parts = [task.prompt.strip()] if task.prompt.strip() else []
    parts.append(f"{task.style} style {task.garment_type}")
    parts.append(f"{task.collection} collection apparel, clean studio product model")
    return ", ".join(parts)[:MAX_PROMPT]


@dataclass(frozen=True)
class TripoOutput:
    model: str
    pbr_model: str
    rendered_image: str


class TripoClient:
    """Thin typed wrapper over the three endpoints we use."""

    def __init__(self, client: httpx.AsyncClient, deadline: float | None) -> None:
        self._client = client
        self._deadline = deadline

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await request(
            self._client, method, path, provider=PROVIDER, deadline=self._deadline, **kwargs
        )
        body = json_body(response, PROVIDER)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            if isinstance(body, dict) and body.get("code") not in (0, None):
                raise ProviderRequestRejected(
                    f"{PROVIDER} error {body.get('code')}: {str(body.get('message', ''))[:200]}"
                )
            raise ProviderUnavailable(f"{PROVIDER} sent an unexpected envelope")
        if body.get("code", 0) != 0:
            raise ProviderRequestRejected(
                f"{PROVIDER} error {body['code']}: {str(body.get('message', ''))[:200]}"
            )
        data: dict[str, Any] = body["data"]
        return data

    async def upload(self, content: bytes, content_type: str) -> tuple[str, str]:
        """Upload an image; returns (image_token, file type)."""
        kind = IMAGE_TYPES.get(content_type.split(";")[0].strip().lower())
        if kind is None:
            raise ProviderRequestRejected(f"image_url is not a JPEG/PNG/WebP ({content_type})")
        data = await self._call(
            "POST", "/upload", files={"file": (f"image.{kind}", content, content_type)}
        )
        token = data.get("image_token")
        if not isinstance(token, str) or not token:
            raise ProviderUnavailable(f"{PROVIDER} upload returned no image_token")
        return token, kind

    async def create(self, body: dict[str, Any]) -> str:
        data = await self._call("POST", "/task", json=body)
        task_id = data.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise ProviderUnavailable(f"{PROVIDER} returned no task_id")
        return task_id

    async def wait(self, task_id: str, first_wait: float) -> TripoOutput:
        clock = PollClock(self._deadline, first_wait)
        faults = 0
        while True:
            try:
                data = await self._call("GET", f"/task/{task_id}")
            except ProviderUnavailable:
                # A status read is idempotent: a garbled answer is worth another look.
                faults += 1
                if faults >= MAX_POLL_FAULTS:
                    raise
                await clock.tick(f"{PROVIDER} task {task_id}")
                continue
            status = str(data.get("status", "unknown"))
            if status == "success":
                return _output(data)
            if status in FAILED:
                raise ProviderTaskFailed(f"{PROVIDER} task {task_id} ended {status}")
            if status not in RUNNING:
                log.warning("%s task %s has unknown status %r", PROVIDER, task_id, status)
            await clock.tick(f"{PROVIDER} task {task_id}")


def _output(data: dict[str, Any]) -> TripoOutput:
    output = data.get("output")
    if not isinstance(output, dict):
        raise ProviderUnavailable(f"{PROVIDER} reported success without output")
    model = output.get("model") or output.get("pbr_model") or output.get("base_model")
    if not isinstance(model, str) or not model:
        raise ProviderUnavailable(f"{PROVIDER} reported success without a model URL")
    pbr = output.get("pbr_model")
    preview = output.get("rendered_image")
    return TripoOutput(
        model=model,
        pbr_model=pbr if isinstance(pbr, str) and pbr else model,
        rendered_image=preview if isinstance(preview, str) else "",
    )


class TripoAssetAgent:
    """Generates the asset, then (when WordPress is configured) publishes it."""

    async def run(self, task_id: str, task_input: TaskInput, ctx: RunContext) -> Generate3DOutput:
        assert isinstance(task_input, Generate3DInput)
        key = ctx.require("TRIPO_API_KEY", "generate_3d tasks (Tripo3D)")
        base = check_config_url(
            ctx.config.get("TRIPO_API_BASE", DEFAULT_BASE), "TRIPO_API_BASE", ctx.plain_http_hosts
        )
        first_wait = float(ctx.config.get("TRIPO_POLL_INTERVAL", "2"))
        async with make_client(base, headers={"Authorization": f"Bearer {key}"}) as client:
            tripo = TripoClient(client, ctx.deadline)
            tripo_id = ctx.ledger.get(TASK_KEY)
            if isinstance(tripo_id, str):
                log.info(
                    "%s task %s was started by an earlier attempt: polling it", PROVIDER, tripo_id
                )
            else:
                tripo_id = await self._start(tripo, task_input, ctx)
            output = await tripo.wait(tripo_id, first_wait)
        self._charge(ctx, tripo_id, "image_to_model" if task_input.image_url else "text_to_model")
        result = Generate3DResult(
            task_id=tripo_id,
            model_url=output.model,
            texture_url=output.pbr_model,
            preview_url=output.rendered_image,
        )
        if ctx.config.get("WORDPRESS_URL"):
            media_ids = await publish_assets(ctx, task_id, task_input.product_name, result)
            result = result.model_copy(update={"wordpress_media_ids": media_ids})
        return Generate3DOutput(
            status="success",
            task_id=task_id,
            result=result,
            completed_at=utc_iso(),
        )

    @staticmethod
    def _charge(ctx: RunContext, tripo_id: str, kind: str) -> None:
        """The credits of a succeeded Tripo task, once per Tripo task (a retry polls it again)."""
        if ctx.ledger.get(CHARGED_KEY) == tripo_id:
            return
        ctx.usage.add_credits(USAGE_NAME, kind, CREDITS[kind])
        ctx.ledger.record(CHARGED_KEY, tripo_id)

    async def _start(self, tripo: TripoClient, task_input: Generate3DInput, ctx: RunContext) -> str:
        """Create the Tripo task and record its id before anything else can fail."""
        body: dict[str, Any]
        if task_input.image_url is not None:
            content, content_type = await fetch_user_url(
                ctx.user_http, task_input.image_url, deadline=ctx.deadline
            )
            token, kind = await tripo.upload(content, content_type)
            body = {"type": "image_to_model", "file": {"type": kind, "file_token": token}}
        else:
            body = {"type": "text_to_model", "prompt": build_prompt(task_input)}
        if ctx.ledger.get(CREATING_KEY):
            log.warning("An earlier attempt's %s create may have gone through unanswered", PROVIDER)
        ctx.ledger.record(CREATING_KEY, True)
        tripo_id = await tripo.create(body)
        ctx.ledger.record(TASK_KEY, tripo_id)
        log.info("%s task %s started (%s)", PROVIDER, tripo_id, body["type"])
        return tripo_id

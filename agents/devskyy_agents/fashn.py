"""fashn_tryon through the FASHN API (https://api.fashn.ai/v1).

Contract used: Bearer auth; POST /run {"model_name": "tryon-v1.6", "inputs":
{model_image, garment_image, category, num_samples}} returns {"id", "error"};
GET /status/{id} returns {"id", "status", "output", "error"} with status
starting/in_queue/processing, then completed (output = image URLs) or
failed/canceled (error = {"name", "message"}). The person and garment URLs are
the user's: they were validated as public https by the model, and FASHN, not
this pod, fetches them.

The prediction id goes into the task's ledger as soon as /run returns it; a
retry polls that prediction instead of starting (and paying for) another.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from devskyy_agents.clock import utc_iso
from devskyy_agents.errors import ProviderTaskFailed, ProviderUnavailable
from devskyy_agents.http import check_config_url, json_body, make_client, request
from devskyy_agents.models import FashnTryonInput, FashnTryonOutput, FashnTryonResult, TaskInput
from devskyy_agents.poll import PollClock
from devskyy_agents.registry import RunContext

log = logging.getLogger(__name__)

DEFAULT_BASE = "https://api.fashn.ai/v1"
DEFAULT_MODEL = "tryon-v1.6"
PROVIDER = "FASHN"
FAILED = frozenset({"failed", "canceled", "cancelled"})
PREDICTION_KEY = "fashn:prediction"
USAGE_NAME = "fashn"
# POST /run answers with the credits it consumed in this header; without it, the
# documented price: one credit per generated image (num_samples).
CREDITS_HEADER = "x-fashn-credits-used"


async def _call(
    client: httpx.AsyncClient, method: str, path: str, ctx: RunContext, **kwargs: Any
) -> dict[str, Any]:
    return (await _call_with_headers(client, method, path, ctx, **kwargs))[0]


async def _call_with_headers(
    client: httpx.AsyncClient, method: str, path: str, ctx: RunContext, **kwargs: Any
) -> tuple[dict[str, Any], httpx.Headers]:
    response = await request(
        client, method, path, provider=PROVIDER, deadline=ctx.deadline, **kwargs
    )
    body = json_body(response, PROVIDER)
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"{PROVIDER} sent an unexpected body")
    return body, response.headers


def credits_used(headers: httpx.Headers, num_samples: int) -> int:
    """The credits /run reported, else the documented one per image."""
    text = headers.get(CREDITS_HEADER, "").strip()
    return int(text) if text.isdigit() else num_samples


async def _start(client: httpx.AsyncClient, payload: dict[str, Any], ctx: RunContext) -> str:
    started, headers = await _call_with_headers(client, "POST", "/run", ctx, json=payload)
    if started.get("error"):
        raise ProviderTaskFailed(f"{PROVIDER} refused: {_error_text(started['error'])}")
    prediction_id = started.get("id")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise ProviderUnavailable(f"{PROVIDER} returned no prediction id")
    ctx.ledger.record(PREDICTION_KEY, prediction_id)
    samples = int(payload["inputs"]["num_samples"])
    ctx.usage.add_credits(USAGE_NAME, str(payload["model_name"]), credits_used(headers, samples))
    return prediction_id


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('name', 'Error')}: {str(error.get('message', ''))[:300]}"
    return str(error)[:300]


class FashnTryonAgent:
    async def run(self, task_id: str, task_input: TaskInput, ctx: RunContext) -> FashnTryonOutput:
        assert isinstance(task_input, FashnTryonInput)
        key = ctx.require("FASHN_API_KEY", "fashn_tryon tasks (FASHN)")
        base = check_config_url(
            ctx.config.get("FASHN_API_BASE", DEFAULT_BASE), "FASHN_API_BASE", ctx.plain_http_hosts
        )
        first_wait = float(ctx.config.get("FASHN_POLL_INTERVAL", "2"))
        payload = {
            "model_name": ctx.config.get("FASHN_MODEL", DEFAULT_MODEL),
            "inputs": {
                "model_image": task_input.model_image,
                "garment_image": task_input.garment_image,
                "category": task_input.category,
                "num_samples": task_input.num_samples,
            },
        }
        async with make_client(base, headers={"Authorization": f"Bearer {key}"}) as client:
            prediction_id = ctx.ledger.get(PREDICTION_KEY)
            if not isinstance(prediction_id, str):
                prediction_id = await _start(client, payload, ctx)
            else:
                log.info(
                    "%s prediction %s was started by an earlier attempt", PROVIDER, prediction_id
                )
            clock = PollClock(ctx.deadline, first_wait)
            while True:
                status = await _call(client, "GET", f"/status/{prediction_id}", ctx)
                state = status.get("status")
                if state == "completed":
                    images = status.get("output")
                    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
                        raise ProviderUnavailable(f"{PROVIDER} completed without output images")
                    break
                if state in FAILED:
                    raise ProviderTaskFailed(
                        f"{PROVIDER} prediction {prediction_id} {state}: "
                        f"{_error_text(status.get('error'))}"
                    )
                await clock.tick(f"{PROVIDER} prediction {prediction_id}")
        return FashnTryonOutput(
            status="success",
            task_id=task_id,
            result=FashnTryonResult(prediction_id=prediction_id, images=images),
            completed_at=utc_iso(),
        )

"""Who writes a campaign's copy: OpenAI, Anthropic or Google AI, in a fallback order.

A campaign may choose its provider (`content_provider`); the others configured
(their API key present) follow in MARKETING_PROVIDER_ORDER (default openai,
anthropic, google). The next one is tried only when a provider is unavailable
(429, 5xx, unreachable, unusable answer); a rejected key or request fails the
task at once, since another provider would not make it right. SDKs are imported
only for the providers a task uses.
"""

from __future__ import annotations

import importlib
import json
import logging
from typing import Protocol

from pydantic import ValidationError

from devskyy_agents.errors import MissingCredentials, ProviderUnavailable
from devskyy_agents.marketing.content import SYSTEM_PROMPT, CampaignContent
from devskyy_agents.models import CONTENT_PROVIDERS, MarketingCampaignInput
from devskyy_agents.registry import RunContext

log = logging.getLogger(__name__)

MODULES = {
    "openai": "devskyy_agents.marketing.openai_writer",
    "anthropic": "devskyy_agents.marketing.anthropic_writer",
    "google": "devskyy_agents.marketing.gemini_writer",
}
KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "google": "GOOGLE_AI_API_KEY"}
ORDER_VARIABLE = "MARKETING_PROVIDER_ORDER"
MAX_CALL_SECONDS = 60.0


class Writer(Protocol):
    async def write(self, ctx: RunContext, system: str, brief: str, timeout: float) -> str: ...


def provider_order(ctx: RunContext, chosen: str | None) -> list[str]:
    """The providers to try, in order; MissingCredentials when none can be."""
    text = ctx.config.get(ORDER_VARIABLE, ",".join(CONTENT_PROVIDERS))
    order = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in order if name not in MODULES]
    if unknown:
        raise MissingCredentials(
            f"{ORDER_VARIABLE}: unknown provider {unknown[0]!r} (known: {', '.join(MODULES)})"
        )
    configured = [name for name in order if ctx.config.get(KEYS[name], "").strip()]
    if chosen is not None:
        if chosen not in configured and not ctx.config.get(KEYS[chosen], "").strip():
            raise MissingCredentials(
                f"{KEYS[chosen]} is not set; this campaign asks for {chosen} content"
            )
        return [chosen, *(name for name in configured if name != chosen)]
    if not configured:
        others = ", ".join(KEYS[name] for name in CONTENT_PROVIDERS if name != "openai")
        raise MissingCredentials(
            f"OPENAI_API_KEY is not set (nor {others}); one is required for "
            "marketing_campaign tasks"
        )
    return configured


def brief(task: MarketingCampaignInput) -> str:
    return json.dumps(
        {"campaign_id": task.campaign_id, "channel": task.campaign_type, "brief": task.content},
        ensure_ascii=False,
    )


def parse_content(provider: str, text: str) -> CampaignContent:
    """The JSON object asked for (a fenced ```json block is accepted too)."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        return CampaignContent.model_validate(json.loads(stripped))
    except (ValueError, ValidationError):
        raise ProviderUnavailable(f"{provider} content is not the JSON object asked for") from None


async def write_content(ctx: RunContext, task: MarketingCampaignInput) -> CampaignContent:
    failures: list[str] = []
    for provider in provider_order(ctx, task.content_provider):
        writer: Writer = importlib.import_module(MODULES[provider])
        remaining = ctx.remaining()
        timeout = MAX_CALL_SECONDS if remaining is None else max(1.0, min(60.0, remaining))
        try:
            text = await writer.write(ctx, SYSTEM_PROMPT, brief(task), timeout)
            content = parse_content(provider, text)
        except ProviderUnavailable as exc:
            log.warning("content provider %s unavailable (%s); trying the next", provider, exc)
            failures.append(f"{provider}: {exc}")
            continue
        if failures:
            log.info("campaign content written by %s after: %s", provider, "; ".join(failures))
        return content
    raise ProviderUnavailable("every content provider failed: " + "; ".join(failures))

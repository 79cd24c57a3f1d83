"""Campaign content: what a provider is asked for (one JSON object), its shape, and
the copy of a task kept in its ledger so every attempt delivers the same one.

The providers (OpenAI, Anthropic, Google AI) and their fallback order: `writers`.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ValidationError

from devskyy_agents.ledger import MAX_RECORD_BYTES
from devskyy_agents.models import MarketingCampaignInput
from devskyy_agents.registry import RunContext

CONTENT_KEY = "marketing:content"
SYSTEM_PROMPT = (
    "You write marketing copy for SkyyRose, a luxury streetwear brand. Answer with one JSON "
    "object with the keys: subject, body, social_post, seo_title, meta_description, keywords "
    "(a list of strings). In subject and body write {name} where the reader's first name goes."
)


class CampaignContent(BaseModel):
    subject: str = ""
    body: str = ""
    social_post: str = ""
    seo_title: str = ""
    meta_description: str = ""
    keywords: list[str] = []


async def generate(ctx: RunContext, task: MarketingCampaignInput) -> CampaignContent:
    """The campaign's copy from its provider, or the next in the fallback order."""
    from devskyy_agents.marketing.writers import write_content

    return await write_content(ctx, task)


async def generate_once(ctx: RunContext, task: MarketingCampaignInput) -> CampaignContent:
    """The content an earlier attempt wrote, else a new one, kept in the ledger.

    Every attempt then delivers the same copy (so a resent, in-doubt email is a
    true duplicate) and the provider is paid once per task.
    """
    recorded = ctx.ledger.get(CONTENT_KEY)
    if isinstance(recorded, dict):
        try:
            return CampaignContent.model_validate(recorded)
        except ValidationError:
            pass
    written = await generate(ctx, task)
    data = written.model_dump()
    if len(json.dumps(data)) < MAX_RECORD_BYTES - 256:  # key and framing
        ctx.ledger.record(CONTENT_KEY, data)
    return written

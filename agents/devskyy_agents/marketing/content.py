"""Campaign content: what a provider is asked for (one JSON object) and its shape.

The providers (OpenAI, Anthropic, Google AI) and their fallback order: `writers`.
"""

from __future__ import annotations

from pydantic import BaseModel

from devskyy_agents.models import MarketingCampaignInput
from devskyy_agents.registry import RunContext

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

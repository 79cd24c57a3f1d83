"""Campaign content from OpenAI chat completions, asked for as one JSON object.

The openai SDK honours OPENAI_API_KEY/OPENAI_BASE_URL from our config; its own
retries (which follow Retry-After) are kept small and its timeout bounded by the
task deadline. SDK errors are mapped onto the task error taxonomy.
"""

from __future__ import annotations

import json
from typing import Any

import openai
from pydantic import BaseModel, ValidationError

from devskyy_agents.errors import (
    CredentialsRejected,
    ProviderRequestRejected,
    ProviderUnavailable,
)
from devskyy_agents.ledger import MAX_RECORD_BYTES
from devskyy_agents.models import MarketingCampaignInput
from devskyy_agents.registry import RunContext

DEFAULT_MODEL = "gpt-4o-mini"
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


def make_openai(ctx: RunContext) -> openai.AsyncOpenAI:
    key = ctx.require("OPENAI_API_KEY", "marketing_campaign tasks (OpenAI)")
    remaining = ctx.remaining()
    timeout = 60.0 if remaining is None else max(1.0, min(60.0, remaining))
    return openai.AsyncOpenAI(
        api_key=key,
        base_url=ctx.config.get("OPENAI_BASE_URL") or None,
        timeout=timeout,
        max_retries=int(ctx.config.get("OPENAI_MAX_RETRIES", "2")),
    )


def _brief(task: MarketingCampaignInput) -> str:
    return json.dumps(
        {"campaign_id": task.campaign_id, "channel": task.campaign_type, "brief": task.content},
        ensure_ascii=False,
    )


async def generate(ctx: RunContext, task: MarketingCampaignInput) -> CampaignContent:
    """One chat completion; malformed JSON from the model is a retryable fault."""
    client = make_openai(ctx)
    try:
        completion = await client.chat.completions.create(
            model=ctx.config.get("OPENAI_MODEL", DEFAULT_MODEL),
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": _brief(task)},
            ],
            response_format={"type": "json_object"},
            temperature=0.7,
        )
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise CredentialsRejected(
            f"OpenAI rejected the credentials (HTTP {exc.status_code})"
        ) from None
    except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as exc:
        raise ProviderUnavailable(f"OpenAI unavailable: {type(exc).__name__}") from None
    except openai.APIStatusError as exc:
        if exc.status_code >= 500 or exc.status_code in (408, 409, 429):
            raise ProviderUnavailable(f"OpenAI answered HTTP {exc.status_code}") from None
        raise ProviderRequestRejected(
            f"OpenAI refused the request (HTTP {exc.status_code})"
        ) from None
    except openai.APIResponseValidationError:
        raise ProviderUnavailable("OpenAI sent a malformed response") from None
    finally:
        await client.close()
    if not completion.choices or completion.choices[0].message.content is None:
        raise ProviderUnavailable("OpenAI returned no content")
    return parse_content(completion.choices[0].message.content)


async def generate_once(ctx: RunContext, task: MarketingCampaignInput) -> CampaignContent:
    """The content an earlier attempt wrote, else a new one, kept in the ledger.

    Every attempt then delivers the same copy (so a resent, in-doubt email is a
    true duplicate) and OpenAI is paid once per task.
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


def parse_content(text: str) -> CampaignContent:
    try:
        data: Any = json.loads(text)
        return CampaignContent.model_validate(data)
    except (ValueError, ValidationError):
        raise ProviderUnavailable("OpenAI content is not the JSON object asked for") from None

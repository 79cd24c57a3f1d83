"""Campaign copy from Anthropic's Messages API (the official `anthropic` SDK).

ANTHROPIC_API_KEY (required when chosen), ANTHROPIC_BASE_URL, ANTHROPIC_MODEL and
ANTHROPIC_MAX_RETRIES come from the task's config; 429, 529 (overloaded) and 5xx
are retryable (the next provider in the fallback order gets the campaign).
"""

from __future__ import annotations

import anthropic

from devskyy_agents.errors import (
    CredentialsRejected,
    ProviderRequestRejected,
    ProviderUnavailable,
)
from devskyy_agents.registry import RunContext

NAME = "anthropic"
KEY = "ANTHROPIC_API_KEY"
DEFAULT_MODEL = "claude-sonnet-4-5"
MAX_TOKENS = 2048


async def write(ctx: RunContext, system: str, brief: str, timeout: float) -> str:
    client = anthropic.AsyncAnthropic(
        api_key=ctx.require(KEY, "marketing_campaign tasks (Anthropic)"),
        base_url=ctx.config.get("ANTHROPIC_BASE_URL") or None,
        timeout=timeout,
        max_retries=int(ctx.config.get("ANTHROPIC_MAX_RETRIES", "2")),
    )
    model = ctx.config.get("ANTHROPIC_MODEL", DEFAULT_MODEL)
    try:
        message = await client.messages.create(
            model=model,
            max_tokens=MAX_TOKENS,
            system=system + " Answer with the JSON object only.",
            messages=[{"role": "user", "content": brief}],
        )
    except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as exc:
        raise CredentialsRejected(
            f"Anthropic rejected the credentials (HTTP {exc.status_code})"
        ) from None
    except (anthropic.RateLimitError, anthropic.APIConnectionError) as exc:
        raise ProviderUnavailable(f"Anthropic unavailable: {type(exc).__name__}") from None
    except anthropic.APIStatusError as exc:
        if exc.status_code >= 500 or exc.status_code in (408, 409, 429):
            raise ProviderUnavailable(f"Anthropic answered HTTP {exc.status_code}") from None
        raise ProviderRequestRejected(
            f"Anthropic refused the request (HTTP {exc.status_code})"
        ) from None
    except anthropic.APIResponseValidationError:
        raise ProviderUnavailable("Anthropic sent a malformed response") from None
    finally:
        await client.close()
    # Messages API: usage.input_tokens / output_tokens (cache reads and writes are input too).
    usage = message.usage
    cached = (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
    ctx.usage.add_tokens(
        NAME, message.model or model, usage.input_tokens + cached, usage.output_tokens
    )
    text = "".join(block.text for block in message.content if block.type == "text")
    if not text:
        raise ProviderUnavailable("Anthropic returned no text")
    return text

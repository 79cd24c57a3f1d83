"""Campaign copy from OpenAI chat completions (the openai SDK), as one JSON object.

The SDK honours OPENAI_API_KEY/OPENAI_BASE_URL from our config; its own retries
(which follow Retry-After) are kept small and its timeout bounded by the task
deadline. SDK errors are mapped onto the task error taxonomy.
"""

from __future__ import annotations

import openai

from devskyy_agents.errors import (
    CredentialsRejected,
    ProviderRequestRejected,
    ProviderUnavailable,
)
from devskyy_agents.registry import RunContext

NAME = "openai"
KEY = "OPENAI_API_KEY"
DEFAULT_MODEL = "gpt-4o-mini"


def make_openai(ctx: RunContext, timeout: float) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=ctx.require(KEY, "marketing_campaign tasks (OpenAI)"),
        base_url=ctx.config.get("OPENAI_BASE_URL") or None,
        timeout=timeout,
        max_retries=int(ctx.config.get("OPENAI_MAX_RETRIES", "2")),
    )


async def write(ctx: RunContext, system: str, brief: str, timeout: float) -> str:
    client = make_openai(ctx, timeout)
    model = ctx.config.get("OPENAI_MODEL", DEFAULT_MODEL)
    try:
        completion = await client.chat.completions.create(
            model=model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": brief}],
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
    # Paid as soon as answered, whatever the content: usage.prompt_tokens/completion_tokens.
    usage = completion.usage
    ctx.usage.add_tokens(
        NAME, completion.model or model,
        usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0,
    )  # fmt: skip
    if not completion.choices or completion.choices[0].message.content is None:
        raise ProviderUnavailable("OpenAI returned no content")
    return completion.choices[0].message.content

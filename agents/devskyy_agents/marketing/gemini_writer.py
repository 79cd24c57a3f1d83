"""Campaign copy from the Gemini API's generateContent (the official `google-genai` SDK).

GOOGLE_AI_API_KEY (required when chosen), GOOGLE_AI_BASE_URL, GOOGLE_AI_MODEL
come from the task's config; JSON output is asked for with responseMimeType.
429 and 5xx are retryable (the next provider in the fallback order gets it).
"""

from __future__ import annotations

import httpx
from google import genai
from google.genai import errors, types

from devskyy_agents.errors import (
    CredentialsRejected,
    ProviderRequestRejected,
    ProviderUnavailable,
)
from devskyy_agents.registry import RunContext

NAME = "google"
KEY = "GOOGLE_AI_API_KEY"
DEFAULT_MODEL = "gemini-2.5-flash"


TRANSPORT_ERRORS = (OSError, TimeoutError, httpx.HTTPError)


async def write(ctx: RunContext, system: str, brief: str, timeout: float) -> str:
    key = ctx.require(KEY, "marketing_campaign tasks (Google AI)")
    # Our own httpx client: one transport whatever else is installed (the SDK would
    # pick aiohttp when present), closed here.
    transport = httpx.AsyncClient(timeout=timeout)
    options = types.HttpOptions(
        base_url=ctx.config.get("GOOGLE_AI_BASE_URL") or None,
        timeout=int(timeout * 1000),
        httpx_async_client=transport,
    )
    client = genai.Client(api_key=key, http_options=options)
    model = ctx.config.get("GOOGLE_AI_MODEL", DEFAULT_MODEL)
    try:
        response = await client.aio.models.generate_content(
            model=model,
            contents=brief,
            config=types.GenerateContentConfig(
                system_instruction=system,
                response_mime_type="application/json",
                temperature=0.7,
            ),
        )
    except errors.APIError as exc:
        code = int(exc.code or 0)
        # An invalid key is answered 400 INVALID_ARGUMENT "API key not valid".
        if code in (401, 403) or (code == 400 and "API key" in str(exc.message)):
            raise CredentialsRejected(f"Google AI rejected the credentials (HTTP {code})") from None
        if code >= 500 or code in (408, 429):
            raise ProviderUnavailable(f"Google AI answered HTTP {code}") from None
        raise ProviderRequestRejected(f"Google AI refused the request (HTTP {code})") from None
    except TRANSPORT_ERRORS as exc:
        raise ProviderUnavailable(f"Google AI unreachable: {type(exc).__name__}") from None
    finally:
        await client.aio.aclose()
        await transport.aclose()
    # usageMetadata: promptTokenCount in; candidatesTokenCount (+ thoughtsTokenCount) out.
    meta = response.usage_metadata
    if meta is not None:
        out = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
        ctx.usage.add_tokens(NAME, model, meta.prompt_token_count or 0, out)
    else:
        ctx.usage.add_tokens(NAME, model, 0, 0)
    text = response.text
    if not text:
        raise ProviderUnavailable("Google AI returned no text")
    return text

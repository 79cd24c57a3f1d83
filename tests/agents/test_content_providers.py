"""Campaign copy from OpenAI, Anthropic (ANTHROPIC_API_KEY) or Google AI
(GOOGLE_AI_API_KEY) with their official SDKs against loopback servers that follow
each provider's documented API: a provider per campaign, and the fallback order
on 429/5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devskyy_agents.errors import CredentialsRejected, MissingCredentials, ProviderUnavailable
from devskyy_agents.marketing.agent import MarketingAgent
from devskyy_agents.models import MarketingCampaignInput, TaskType, parse_input
from tests.agents.conftest import context, run_task
from tests.agents.test_marketing import Webhooks, openai_env
from tests.providers.anthropic_server import AnthropicServer
from tests.providers.base import serving
from tests.providers.gemini_server import GeminiServer
from tests.providers.openai_server import OpenAIServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
def claude() -> Iterator[AnthropicServer]:
    with serving(AnthropicServer()) as server:
        yield server


@pytest.fixture
def gemini() -> Iterator[GeminiServer]:
    with serving(GeminiServer()) as server:
        yield server


@pytest.fixture
def webhooks() -> Iterator[Webhooks]:
    with serving(Webhooks()) as server:
        yield server


def anthropic_env(server: AnthropicServer) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": server.api_key,
        "ANTHROPIC_BASE_URL": server.url,
        "ANTHROPIC_MAX_RETRIES": "0",
    }


def gemini_env(server: GeminiServer) -> dict[str, str]:
    return {"GOOGLE_AI_API_KEY": server.api_key, "GOOGLE_AI_BASE_URL": server.url}


def social(provider: str | None = None) -> MarketingCampaignInput:
    raw: dict[str, object] = {
        "user_id": "user-1",
        "campaign_id": "black-drop",
        "campaign_type": "social",
        "recipients": ["slack"],
        "content": {"topic": "BLACK collection launch"},
    }
    if provider:
        raw["content_provider"] = provider
    task = parse_input(TaskType.MARKETING_CAMPAIGN, raw)
    assert isinstance(task, MarketingCampaignInput)
    return task


async def posted(
    tmp_path: Path, webhooks: Webhooks, task: MarketingCampaignInput, **env: str
) -> str:
    hooks = {"slack": f"{webhooks.url}/slack"}
    ctx = context(tmp_path, **env, SOCIAL_WEBHOOKS=json.dumps(hooks))
    try:
        out = await MarketingAgent().run("t1", task, ctx)
    finally:
        await ctx.aclose()
    assert out.result.sent_count == 1
    return str(webhooks.requests[-1].json()["text"])


async def test_anthropic_writes_when_the_campaign_asks(
    tmp_path: Path, claude: AnthropicServer, webhooks: Webhooks
) -> None:
    text = await posted(tmp_path, webhooks, social("anthropic"), **anthropic_env(claude))
    assert text == "Written by Claude. #SkyyRose"
    (request,) = claude.requests
    assert request.path == "/v1/messages"
    assert request.headers["anthropic-version"]
    body = request.json()
    assert body["model"] == "claude-sonnet-4-5"
    assert body["max_tokens"] > 0
    assert "JSON" in body["system"]
    assert json.loads(body["messages"][0]["content"])["campaign_id"] == "black-drop"


async def test_gemini_writes_when_the_campaign_asks(
    tmp_path: Path, gemini: GeminiServer, webhooks: Webhooks
) -> None:
    text = await posted(tmp_path, webhooks, social("google"), **gemini_env(gemini))
    assert text == "Written by Gemini. #SkyyRose"
    (request,) = gemini.requests
    version, _, method = request.path.removeprefix("/").partition("/")
    assert version in ("v1", "v1beta")
    assert method == "models/gemini-2.5-flash:generateContent"
    body = request.json()
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert "SkyyRose" in body["systemInstruction"]["parts"][0]["text"]
    assert "black-drop" in body["contents"][0]["parts"][0]["text"]


async def test_falls_back_in_order_on_429_and_5xx(
    tmp_path: Path,
    openai_server: OpenAIServer,
    claude: AnthropicServer,
    gemini: GeminiServer,
    webhooks: Webhooks,
) -> None:
    """OpenAI answers 429, Anthropic 529 (overloaded): Google writes it."""
    openai_server.fail_next("status", 429, headers={"Retry-After": "0"})
    claude.errors.append(529)
    env = {**openai_env(openai_server), **anthropic_env(claude), **gemini_env(gemini)}
    text = await posted(tmp_path, webhooks, social(), **env)
    assert text == "Written by Gemini. #SkyyRose"
    assert (len(openai_server.requests), len(claude.requests), len(gemini.requests)) == (1, 1, 1)
    # The order is configurable; the campaign's own choice goes first: anthropic
    # (500), then google (503), then openai writes it.
    claude.errors.append(500)
    gemini.errors.append(503)
    order = {**env, "MARKETING_PROVIDER_ORDER": "google,openai,anthropic"}
    text = await posted(tmp_path, webhooks, social("anthropic"), **order)
    assert text == "The BLACK collection drops today. #SkyyRose"
    assert (len(openai_server.requests), len(claude.requests), len(gemini.requests)) == (2, 2, 2)


async def test_rejected_key_does_not_fall_back(
    tmp_path: Path, openai_server: OpenAIServer, gemini: GeminiServer, webhooks: Webhooks
) -> None:
    env = {**openai_env(openai_server), **gemini_env(gemini), "GOOGLE_AI_API_KEY": "AIza-wrong"}
    ctx = context(tmp_path, **env)
    with pytest.raises(CredentialsRejected, match="Google AI"):
        await MarketingAgent().run("t1", social("google"), ctx)
    await ctx.aclose()
    assert openai_server.requests == []  # a bad key is not fixed by another provider


async def test_every_provider_unavailable_is_retryable(
    tmp_path: Path, claude: AnthropicServer, gemini: GeminiServer
) -> None:
    claude.errors.append(429)
    gemini.errors.append(500)
    ctx = context(tmp_path, **anthropic_env(claude), **gemini_env(gemini))
    with pytest.raises(ProviderUnavailable, match=r"anthropic: .*google: "):
        await MarketingAgent().run("t1", social(), ctx)
    await ctx.aclose()


async def test_missing_keys_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(MissingCredentials, match="ANTHROPIC_API_KEY is not set"):
        await MarketingAgent().run("t1", social("anthropic"), context(tmp_path))
    with pytest.raises(MissingCredentials, match=r"OPENAI_API_KEY is not set .*GOOGLE_AI_API_KEY"):
        await MarketingAgent().run("t1", social(), context(tmp_path))


def test_anthropic_campaign_through_the_entrypoint(
    tmp_path: Path, claude: AnthropicServer, webhooks: Webhooks
) -> None:
    """The task pod's view: ANTHROPIC_API_KEY alone is enough for a campaign."""
    spec = {"type": "marketing_campaign", "input": social().model_dump(mode="json")}
    run = run_task(
        tmp_path, spec, **anthropic_env(claude),
        SOCIAL_WEBHOOKS=json.dumps({"slack": f"{webhooks.url}/slack"}),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.message["result"]["sent_count"] == 1
    assert webhooks.requests[0].json()["text"] == "Written by Claude. #SkyyRose"
    assert claude.api_key not in run.stderr

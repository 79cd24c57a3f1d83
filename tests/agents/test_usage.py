"""Provider usage reported by task pods: the real SDKs (openai, anthropic, google-genai)
and HTTP clients against loopback servers that report usage as the providers
document it, through the real `devskyy-task` entrypoint where the termination
message matters, priced by the operator's pure cost computation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from devskyy_agents import tripo as tripo_agent
from devskyy_agents.marketing.agent import MarketingAgent
from devskyy_agents.models import MarketingCampaignInput
from devskyy_agents.usage import parse_usage
from devskyy_operator.cost.compute import task_cost
from devskyy_operator.cost.money import parse_amount, to_micros
from devskyy_operator.settings import Settings
from tests.agents.conftest import context, run_task
from tests.agents.test_content_providers import anthropic_env, gemini_env, social
from tests.agents.test_marketing import Webhooks, openai_env
from tests.agents.test_tripo import SPEC as TRIPO_SPEC
from tests.agents.test_tripo import tripo_env
from tests.providers.anthropic_server import AnthropicServer
from tests.providers.base import serving
from tests.providers.fashn_server import FashnServer
from tests.providers.gemini_server import GeminiServer
from tests.providers.openai_server import OpenAIServer
from tests.providers.tripo_server import TripoServer

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


PRICES = Settings().cost
FASHN_SPEC = {
    "type": "fashn_tryon",
    "input": {
        "user_id": "user-1",
        "model_image": "https://cdn.example.com/model.jpg",
        "garment_image": "https://cdn.example.com/garment.jpg",
        "num_samples": 3,
    },
}


def social_spec() -> dict[str, object]:
    return {
        "type": "marketing_campaign",
        "input": {
            "user_id": "user-1",
            "campaign_id": "black-drop",
            "campaign_type": "social",
            "recipients": ["slack"],
            "content": {"topic": "BLACK collection launch"},
        },
    }


def test_openai_token_usage_reaches_the_message_and_is_priced(
    tmp_path: Path, openai_server: OpenAIServer, webhooks: Webhooks
) -> None:
    openai_server.usage = (1234, 567)
    hooks = json.dumps({"slack": f"{webhooks.url}/slack"})
    run = run_task(tmp_path, social_spec(), **openai_env(openai_server), SOCIAL_WEBHOOKS=hooks)
    assert run.code == 0, run.stderr
    assert run.message["usage"] == [
        {"provider": "openai", "model": "gpt-4o-mini", "calls": 1, "input_tokens": 1234,
         "output_tokens": 567},
    ]  # fmt: skip
    cost = task_cost({}, 0.0, parse_usage(run.message["usage"]), PRICES)
    price = PRICES.models["gpt-4o-mini"]
    expected = (1234 * price.input_per_million + 567 * price.output_per_million) / 10**6
    assert parse_amount(cost.total) == to_micros(expected)
    assert cost.total != "0.000000"


def test_a_failed_campaign_still_reports_the_tokens_it_paid(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    spec = social_spec()
    # No SOCIAL_WEBHOOKS: every delivery fails after the copy was written (and paid).
    run = run_task(tmp_path, spec, **openai_env(openai_server))
    assert run.code != 0
    assert run.message["status"] == "failed"
    assert run.message["usage"][0]["input_tokens"] == openai_server.usage[0]


async def written_usage(
    tmp_path: Path, hooks: Webhooks, task: MarketingCampaignInput, **env: str
) -> list[dict[str, object]]:
    """Run the campaign in-process and return what its usage meter reports."""
    slack = json.dumps({"slack": f"{hooks.url}/slack"})
    ctx = context(tmp_path, **env, SOCIAL_WEBHOOKS=slack)
    try:
        await MarketingAgent().run("t1", task, ctx)
    finally:
        await ctx.aclose()
    return ctx.usage.report()


async def test_anthropic_usage_is_input_and_output_tokens(
    tmp_path: Path, claude: AnthropicServer, webhooks: Webhooks
) -> None:
    usage = await written_usage(tmp_path, webhooks, social("anthropic"), **anthropic_env(claude))
    # The loopback Messages API reports usage.input_tokens 60, output_tokens 90.
    assert usage == [{"provider": "anthropic", "model": "claude-sonnet-4-5", "calls": 1,
                      "input_tokens": 60, "output_tokens": 90}]  # fmt: skip


async def test_gemini_usage_is_prompt_and_candidates_tokens(
    tmp_path: Path, gemini: GeminiServer, webhooks: Webhooks
) -> None:
    usage = await written_usage(tmp_path, webhooks, social("google"), **gemini_env(gemini))
    # usageMetadata.promptTokenCount 60, candidatesTokenCount 90.
    assert usage == [{"provider": "google", "model": "gemini-2.5-flash", "calls": 1,
                      "input_tokens": 60, "output_tokens": 90}]  # fmt: skip


def test_tripo_credits_are_the_documented_price_and_charged_once(
    tmp_path: Path, tripo: TripoServer
) -> None:
    env = tripo_env(tripo, DEVSKYY_ARTIFACTS_PERSISTENT="true")
    first = run_task(tmp_path, TRIPO_SPEC, **env)
    assert first.code == 0, first.stderr
    credits = tripo_agent.CREDITS["text_to_model"]
    charged = {"provider": "tripo", "model": "text_to_model", "calls": 1, "credits": credits}
    assert first.message["usage"] == [charged]
    # A second attempt (same task directory: a persistent ledger) polls the same
    # Tripo task; the report still holds one charge, not two.
    second = run_task(tmp_path, TRIPO_SPEC, **env)
    assert second.code == 0, second.stderr
    assert second.message["usage"] == [charged]
    assert sum(1 for r in tripo.requests if r.method == "POST") == 1
    cost = task_cost({}, 0.0, parse_usage(second.message["usage"]), PRICES)
    assert parse_amount(cost.total) == to_micros(credits * PRICES.credits["tripo"])


@pytest.mark.parametrize("reported", [True, False])
def test_fashn_credits_from_the_header_else_one_per_image(
    tmp_path: Path, fashn: FashnServer, reported: bool
) -> None:
    fashn.credits_per_sample = 2  # what the header says differs from the documented 1
    fashn.report_credits = reported
    run = run_task(
        tmp_path, FASHN_SPEC, FASHN_API_KEY=fashn.api_key, FASHN_API_BASE=f"{fashn.url}/v1"
    )
    assert run.code == 0, run.stderr
    samples = int(str(FASHN_SPEC["input"]["num_samples"]))  # type: ignore[index]
    credits = samples * 2 if reported else samples
    assert run.message["usage"] == [
        {"provider": "fashn", "model": "tryon-v1.6", "calls": 1, "credits": credits}
    ]
    cost = task_cost({}, 0.0, parse_usage(run.message["usage"]), PRICES)
    assert parse_amount(cost.total) == to_micros(Decimal(credits) * PRICES.credits["fashn"])

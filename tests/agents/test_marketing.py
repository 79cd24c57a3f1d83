"""marketing_campaign: OpenAI (loopback, real SDK) + SMTP, webhooks and WooCommerce."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devskyy_agents.errors import CredentialsRejected, ProviderTaskFailed, ProviderUnavailable
from devskyy_agents.marketing.agent import MarketingAgent
from devskyy_agents.models import MarketingCampaignInput, TaskType, parse_input
from tests.agents.conftest import context, run_task, wordpress_env
from tests.providers.base import Provider, Reply, Request, serving
from tests.providers.openai_server import OpenAIServer
from tests.providers.smtp_server import Mailbox, smtp_server
from tests.providers.wordpress_server import WordPressServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class Webhooks(Provider):
    def route(self, request: Request) -> Reply:
        return Reply.json({"ok": True})


@pytest.fixture
def webhooks() -> Iterator[Webhooks]:
    with serving(Webhooks()) as server:
        yield server


def campaign(kind: str, recipients: list[str]) -> MarketingCampaignInput:
    task = parse_input(
        TaskType.MARKETING_CAMPAIGN,
        {
            "user_id": "user-1",
            "campaign_id": "black-drop",
            "campaign_type": kind,
            "recipients": recipients,
            "content": {"topic": "BLACK collection launch"},
        },
    )
    assert isinstance(task, MarketingCampaignInput)
    return task


def openai_env(server: OpenAIServer) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": server.api_key,
        "OPENAI_BASE_URL": f"{server.url}/v1",
        "OPENAI_MAX_RETRIES": "0",
    }


def test_email_campaign_via_entrypoint(tmp_path: Path, openai_server: OpenAIServer) -> None:
    mailbox = Mailbox(refuse={"bounce@example.com"})
    with smtp_server(mailbox) as (host, port):
        spec = {
            "type": "marketing_campaign",
            "input": {
                "user_id": "user-1",
                "campaign_id": "black-drop",
                "campaign_type": "email",
                "recipients": ["jane.doe@example.com", "bounce@example.com", "max@example.org"],
                "content": {"topic": "BLACK collection launch"},
            },
        }
        run = run_task(
            tmp_path,
            spec,
            **openai_env(openai_server),
            SMTP_HOST=host,
            SMTP_PORT=str(port),
            SMTP_FROM="shop@skyyrose.example",
            SMTP_STARTTLS="false",
            SMTP_PASSWORD="smtp-secret-value",
        )
    assert run.code == 0, run.stderr
    result = run.message["result"]
    assert (result["sent_count"], result["failed_count"]) == (2, 1)
    assert result["campaign_type"] == "email"
    assert run.message["campaign_id"] == "black-drop"
    subjects = sorted(m["Subject"] for m in mailbox.messages)
    assert subjects == ["Jane, the BLACK collection is here", "Max, the BLACK collection is here"]
    sent = json.loads(openai_server.requests[0].body)
    assert sent["model"] == "gpt-4o-mini"
    assert sent["response_format"] == {"type": "json_object"}
    assert "smtp-secret-value" not in run.stderr


async def test_social_campaign_posts_to_named_channels(
    tmp_path: Path, openai_server: OpenAIServer, webhooks: Webhooks
) -> None:
    hooks = {"slack": f"{webhooks.url}/slack", "discord": f"{webhooks.url}/discord"}
    ctx = context(tmp_path, **openai_env(openai_server), SOCIAL_WEBHOOKS=json.dumps(hooks))
    out = await MarketingAgent().run("t1", campaign("social", ["slack", "discord", "myspace"]), ctx)
    await ctx.aclose()
    assert (out.result.sent_count, out.result.failed_count) == (2, 1)
    assert sorted(r.path for r in webhooks.requests) == ["/discord", "/slack"]
    assert webhooks.requests[0].json()["text"] == "The BLACK collection drops today. #SkyyRose"


async def test_seo_campaign_updates_products(
    tmp_path: Path, openai_server: OpenAIServer, wordpress: WordPressServer
) -> None:
    ctx = context(tmp_path, **openai_env(openai_server), **wordpress_env(wordpress))
    task = campaign("seo", ["101", "signature-tee", "no-such-product"])
    out = await MarketingAgent().run("t1", task, ctx)
    await ctx.aclose()
    assert (out.result.sent_count, out.result.failed_count) == (2, 1)
    for product_id in (101, 102):
        meta = {m["key"]: m["value"] for m in wordpress.products[product_id]["meta_data"]}
        assert meta["_yoast_wpseo_title"] == "SkyyRose BLACK Collection Hoodies"
        assert meta["_yoast_wpseo_focuskw"].startswith("luxury streetwear")


async def test_openai_rejected_key(tmp_path: Path, openai_server: OpenAIServer) -> None:
    ctx = context(tmp_path, OPENAI_API_KEY="sk-wrong", OPENAI_BASE_URL=f"{openai_server.url}/v1")
    with pytest.raises(CredentialsRejected):
        await MarketingAgent().run("t1", campaign("social", ["slack"]), ctx)
    await ctx.aclose()


async def test_openai_rate_limit_is_retryable(tmp_path: Path, openai_server: OpenAIServer) -> None:
    openai_server.fail_next("status", 429, times=5, headers={"Retry-After": "0"})
    ctx = context(tmp_path, **openai_env(openai_server))
    with pytest.raises(ProviderUnavailable):
        await MarketingAgent().run("t1", campaign("social", ["slack"]), ctx)
    await ctx.aclose()


async def test_model_answer_not_json_is_retryable(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    openai_server.content = "Sure! Here is your campaign: ..."
    ctx = context(tmp_path, **openai_env(openai_server))
    with pytest.raises(ProviderUnavailable):
        await MarketingAgent().run("t1", campaign("social", ["slack"]), ctx)
    await ctx.aclose()


async def test_all_deliveries_failing_fails_the_task(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    mailbox = Mailbox(refuse={"a@example.com"})
    with smtp_server(mailbox) as (host, port):
        ctx = context(
            tmp_path,
            **openai_env(openai_server),
            SMTP_HOST=host,
            SMTP_PORT=str(port),
            SMTP_FROM="shop@skyyrose.example",
            SMTP_STARTTLS="false",
        )
        with pytest.raises(ProviderTaskFailed):
            await MarketingAgent().run("t1", campaign("email", ["a@example.com"]), ctx)
        await ctx.aclose()

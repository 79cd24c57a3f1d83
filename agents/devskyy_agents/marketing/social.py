"""Social delivery: POST the post to the webhook of each named channel.

SOCIAL_WEBHOOKS is operator config, a JSON object channel -> https URL (for
example Slack/Discord/Zapier incoming webhooks); recipients name the channels.
"""

from __future__ import annotations

import json
import logging

from devskyy_agents.errors import PermanentTaskError, ProviderRequestRejected, TaskError
from devskyy_agents.http import check_config_url, make_client, request
from devskyy_agents.marketing.content import CampaignContent
from devskyy_agents.registry import RunContext

log = logging.getLogger(__name__)


def load_webhooks(ctx: RunContext) -> dict[str, str]:
    raw = ctx.require("SOCIAL_WEBHOOKS", "social campaigns")
    try:
        hooks = json.loads(raw)
    except ValueError:
        raise ProviderRequestRejected("SOCIAL_WEBHOOKS is not a JSON object") from None
    if not isinstance(hooks, dict) or not all(isinstance(v, str) for v in hooks.values()):
        raise ProviderRequestRejected("SOCIAL_WEBHOOKS must map channel names to URLs")
    return {
        str(k): check_config_url(v, f"SOCIAL_WEBHOOKS[{k}]", ctx.plain_http_hosts)
        for k, v in hooks.items()
    }


async def post_campaign(
    ctx: RunContext, campaign_id: str, content: CampaignContent, channels: list[str]
) -> tuple[int, int]:
    """(sent_count, failed_count); credential errors still fail the task."""
    hooks = load_webhooks(ctx)
    sent = failed = 0
    async with make_client() as client:
        for channel in channels:
            url = hooks.get(channel)
            if url is None:
                log.warning("No webhook configured for channel %r", channel)
                failed += 1
                continue
            payload = {"campaign_id": campaign_id, "channel": channel, "text": content.social_post}
            try:
                await request(
                    client,
                    "POST",
                    url,
                    provider=f"webhook {channel}",
                    deadline=ctx.deadline,
                    json=payload,
                    headers={"Idempotency-Key": f"{campaign_id}:{channel}"},
                )
                sent += 1
            except PermanentTaskError:
                raise
            except TaskError as exc:
                log.warning("Posting to %s failed: %s", channel, exc)
                failed += 1
    return sent, failed

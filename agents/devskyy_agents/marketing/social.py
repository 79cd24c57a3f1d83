"""Social delivery: POST the post to the webhook of each named channel.

SOCIAL_WEBHOOKS is operator config, a JSON object channel -> https URL (for
example Slack/Discord/Zapier incoming webhooks); recipients name the channels.

Every post carries `Idempotency-Key: <campaign>:<channel>`, the same on every
attempt, and the task's ledger records `posting` before and `posted` after it:
a retry skips posted channels and re-posts an in-doubt one with the same key.
A channel that is only unavailable (5xx, timeouts) fails the attempt after the
other channels are done, when a retry will continue from the ledger.
"""

from __future__ import annotations

import json
import logging

from devskyy_agents.errors import (
    PermanentTaskError,
    ProviderRequestRejected,
    ProviderUnavailable,
    TaskError,
)
from devskyy_agents.http import check_config_url, make_client, request
from devskyy_agents.ledger import digest_key
from devskyy_agents.marketing.content import CampaignContent
from devskyy_agents.registry import RunContext

log = logging.getLogger(__name__)

POSTING, POSTED = "posting", "posted"


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


def idempotency_key(campaign_id: str, channel: str) -> str:
    return f"{campaign_id}:{channel}"


async def post_campaign(
    ctx: RunContext, campaign_id: str, content: CampaignContent, channels: list[str]
) -> tuple[int, int]:
    """(sent_count, failed_count) over all attempts; credential errors still fail the task."""
    hooks = load_webhooks(ctx)
    sent = failed = unavailable = 0
    async with make_client() as client:
        for channel in channels:
            key = digest_key("social", channel)
            state = ctx.ledger.get(key)
            if state == POSTED:
                sent += 1
                continue
            url = hooks.get(channel)
            if url is None:
                log.warning("No webhook configured for channel %r", channel)
                failed += 1
                continue
            if state == POSTING:
                log.warning(
                    "Re-posting to %s, in doubt since an earlier attempt (same key)", channel
                )
            payload = {"campaign_id": campaign_id, "channel": channel, "text": content.social_post}
            ctx.ledger.record(key, POSTING, sync=False)
            try:
                await request(
                    client,
                    "POST",
                    url,
                    provider=f"webhook {channel}",
                    deadline=ctx.deadline,
                    json=payload,
                    headers={"Idempotency-Key": idempotency_key(campaign_id, channel)},
                )
            except PermanentTaskError:
                raise
            except TaskError as exc:
                log.warning("Posting to %s failed: %s", channel, exc)
                failed += 1
                unavailable += 1
                continue
            ctx.ledger.record(key, POSTED, sync=False)
            sent += 1
    if unavailable and ctx.retry_continues():
        raise ProviderUnavailable(
            f"{unavailable} webhook(s) unavailable after {sent} of {len(channels)} channels "
            "posted; a retry posts only to those"
        )
    return sent, failed

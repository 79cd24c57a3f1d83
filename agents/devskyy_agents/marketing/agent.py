"""MarketingAgent: write the content once, deliver it on the campaign's channel.

schedule_at is the operator's business: by the time a pod runs, it is time.
"""

from __future__ import annotations

import logging

from devskyy_agents.clock import utc_iso
from devskyy_agents.errors import ProviderTaskFailed
from devskyy_agents.marketing import content, email, seo, social
from devskyy_agents.models import (
    MarketingCampaignInput,
    MarketingCampaignOutput,
    MarketingResult,
    TaskInput,
)
from devskyy_agents.registry import RunContext

log = logging.getLogger(__name__)


class MarketingAgent:
    async def run(
        self, task_id: str, task_input: TaskInput, ctx: RunContext
    ) -> MarketingCampaignOutput:
        assert isinstance(task_input, MarketingCampaignInput)
        recipients = list(dict.fromkeys(task_input.recipients))  # no one gets it twice
        written = await content.generate_once(ctx, task_input)
        if task_input.campaign_type == "email":
            sent, failed = await email.send_campaign(
                ctx, task_input.campaign_id, written, recipients
            )
        elif task_input.campaign_type == "social":
            sent, failed = await social.post_campaign(
                ctx, task_input.campaign_id, written, recipients
            )
        else:
            sent, failed = await seo.update_products(ctx, written, recipients)
        log.info("Campaign %s: %d sent, %d failed", task_input.campaign_id, sent, failed)
        if sent == 0 and failed > 0:
            raise ProviderTaskFailed(
                f"campaign {task_input.campaign_id}: all {failed} deliveries failed"
            )
        now = utc_iso()
        return MarketingCampaignOutput(
            status="success",
            campaign_id=task_input.campaign_id,
            result=MarketingResult(
                sent_count=sent,
                failed_count=failed,
                campaign_type=task_input.campaign_type,
                sent_at=now,
            ),
            completed_at=now,
        )

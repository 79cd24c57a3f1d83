"""SEO delivery: write SEO title, meta description and focus keywords to WooCommerce products.

The values go into the Yoast SEO post meta keys, which WooCommerce REST exposes
as product meta_data; recipients are product ids or slugs.

An update is a PUT of fixed values, so sending it twice changes nothing; the
task's ledger records each product once updated, so a retry skips it. A
product that is only unavailable (5xx, timeouts) fails the attempt after the
others are done while the Job has a retry left (repeating a PUT is harmless,
so this needs no persistent ledger); the last attempt reports it as failed.
"""

from __future__ import annotations

import logging

from devskyy_agents.errors import PermanentTaskError, ProviderUnavailable, TaskError
from devskyy_agents.ledger import digest_key
from devskyy_agents.marketing.content import CampaignContent
from devskyy_agents.registry import RunContext
from devskyy_agents.wordpress import WordPress

log = logging.getLogger(__name__)

TITLE_META = "_yoast_wpseo_title"
DESCRIPTION_META = "_yoast_wpseo_metadesc"
KEYWORDS_META = "_yoast_wpseo_focuskw"
UPDATED = "updated"


async def update_products(
    ctx: RunContext, content: CampaignContent, products: list[str]
) -> tuple[int, int]:
    """(sent_count, failed_count): one per product updated or not found."""
    meta = [
        {"key": TITLE_META, "value": content.seo_title[:70]},
        {"key": DESCRIPTION_META, "value": content.meta_description[:160]},
        {"key": KEYWORDS_META, "value": ", ".join(content.keywords[:10])},
    ]
    sent = failed = unavailable = 0
    async with WordPress(ctx) as wp:
        for reference in products:
            key = digest_key("seo", reference)
            if ctx.ledger.get(key) == UPDATED:
                sent += 1
                continue
            try:
                product = await wp.find_product(reference)
                if product is None:
                    log.warning("No WooCommerce product %r", reference)
                    failed += 1
                    continue
                await wp.update_product(int(product["id"]), {"meta_data": meta})
            except PermanentTaskError:
                raise
            except TaskError as exc:
                log.warning("Updating product %r failed: %s", reference, exc)
                failed += 1
                unavailable += 1
                continue
            ctx.ledger.record(key, UPDATED, sync=False)
            sent += 1
    if unavailable and ctx.retry_left():
        raise ProviderUnavailable(
            f"WooCommerce unavailable for {unavailable} product(s) after {sent} of "
            f"{len(products)} updated; a retry updates only those"
        )
    return sent, failed

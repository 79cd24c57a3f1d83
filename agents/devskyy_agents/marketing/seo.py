"""SEO delivery: write SEO title, meta description and focus keywords to WooCommerce products.

The values go into the Yoast SEO post meta keys, which WooCommerce REST exposes
as product meta_data; recipients are product ids or slugs.
"""

from __future__ import annotations

import logging

from devskyy_agents.marketing.content import CampaignContent
from devskyy_agents.registry import RunContext
from devskyy_agents.wordpress import WordPress

log = logging.getLogger(__name__)

TITLE_META = "_yoast_wpseo_title"
DESCRIPTION_META = "_yoast_wpseo_metadesc"
KEYWORDS_META = "_yoast_wpseo_focuskw"


async def update_products(
    ctx: RunContext, content: CampaignContent, products: list[str]
) -> tuple[int, int]:
    """(sent_count, failed_count): one per product updated or not found."""
    meta = [
        {"key": TITLE_META, "value": content.seo_title[:70]},
        {"key": DESCRIPTION_META, "value": content.meta_description[:160]},
        {"key": KEYWORDS_META, "value": ", ".join(content.keywords[:10])},
    ]
    sent = failed = 0
    async with WordPress(ctx) as wp:
        for reference in products:
            product = await wp.find_product(reference)
            if product is None:
                log.warning("No WooCommerce product %r", reference)
                failed += 1
                continue
            await wp.update_product(int(product["id"]), {"meta_data": meta})
            sent += 1
    return sent, failed

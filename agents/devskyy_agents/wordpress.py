"""WordPress media and WooCommerce products: where generated assets and SEO land.

WordPress REST (/wp-json/wp/v2/media) authenticates with an application password
(WORDPRESS_USER + WORDPRESS_APP_PASSWORD, HTTP basic); WooCommerce REST
(/wp-json/wc/v3/products) with its consumer key and secret (HTTP basic over https).
"""

from __future__ import annotations

import logging
import posixpath
from typing import Any
from urllib.parse import urlsplit

import httpx

from devskyy_agents.errors import ProviderRequestRejected, ProviderUnavailable
from devskyy_agents.http import check_config_url, json_body, make_client, request
from devskyy_agents.models import Generate3DResult
from devskyy_agents.registry import RunContext

log = logging.getLogger(__name__)

PROVIDER = "WordPress"
MODEL_URL_META = "_devskyy_3d_model_url"
TEXTURE_URL_META = "_devskyy_3d_texture_url"
MAX_ASSET_BYTES = 100 * 1024 * 1024


class WordPress:
    """The few WordPress/WooCommerce calls the agents need."""

    def __init__(self, ctx: RunContext) -> None:
        base = check_config_url(
            ctx.require("WORDPRESS_URL", "WordPress"), "WORDPRESS_URL", ctx.plain_http_hosts
        )
        wp_auth = (
            ctx.require("WORDPRESS_USER", "WordPress media uploads"),
            ctx.require("WORDPRESS_APP_PASSWORD", "WordPress media uploads"),
        )
        wc_auth = (
            ctx.require("WOOCOMMERCE_KEY", "WooCommerce product updates"),
            ctx.require("WOOCOMMERCE_SECRET", "WooCommerce product updates"),
        )
        self._wp = make_client(base, auth=wp_auth)
        self._wc = make_client(base, auth=wc_auth)
        self._deadline = ctx.deadline

    async def __aenter__(self) -> WordPress:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._wp.aclose()
        await self._wc.aclose()

    async def _json(self, client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> Any:
        response = await request(
            client, method, path, provider=PROVIDER, deadline=self._deadline, **kw
        )
        return json_body(response, PROVIDER)

    async def upload_media(self, filename: str, content: bytes, content_type: str) -> int:
        body = await self._json(
            self._wp,
            "POST",
            "/wp-json/wp/v2/media",
            content=content,
            headers={
                "Content-Type": content_type,
                "Content-Disposition": f'attachment; filename="{filename}"',
            },
        )
        media_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(media_id, int):
            raise ProviderUnavailable(f"{PROVIDER} media upload returned no id")
        return media_id

    async def find_product(self, reference: str) -> dict[str, Any] | None:
        """A product by numeric id, exact slug, or exact name (search)."""
        if reference.isdigit():
            product = await self._json(self._wc, "GET", f"/wp-json/wc/v3/products/{reference}")
            return product if isinstance(product, dict) else None
        for params in ({"slug": reference}, {"search": reference}):
            found = await self._json(self._wc, "GET", "/wp-json/wc/v3/products", params=params)
            if not isinstance(found, list):
                raise ProviderUnavailable(f"{PROVIDER} product search returned no list")
            for product in found:
                if isinstance(product, dict) and reference in (
                    product.get("slug"),
                    product.get("name"),
                ):
                    return product
        return None

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> None:
        await self._json(self._wc, "PUT", f"/wp-json/wc/v3/products/{product_id}", json=changes)


def _filename(url: str, fallback: str) -> str:
    name = posixpath.basename(urlsplit(url).path)
    return name if name and "." in name else fallback


async def _download(
    client: httpx.AsyncClient, url: str, deadline: float | None
) -> tuple[bytes, str]:
    """Fetch a provider-hosted asset (a URL the provider returned, not a user URL)."""
    response = await request(client, "GET", url, provider="asset host", deadline=deadline)
    if len(response.content) > MAX_ASSET_BYTES:
        raise ProviderRequestRejected("generated asset is too large to upload")
    return response.content, response.headers.get("Content-Type", "application/octet-stream")


async def publish_assets(
    ctx: RunContext, product_name: str | None, result: Generate3DResult
) -> list[int]:
    """Upload preview and model to the media library; attach them to the product."""
    media_ids: list[int] = []
    async with WordPress(ctx) as wp, make_client() as downloads:
        assets = [(result.preview_url, "preview.webp"), (result.model_url, "model.glb")]
        for url, fallback in assets:
            if not url:
                continue
            content, content_type = await _download(downloads, url, ctx.deadline)
            media_ids.append(await wp.upload_media(_filename(url, fallback), content, content_type))
        if product_name is None:
            return media_ids
        product = await wp.find_product(product_name)
        if product is None:
            log.warning(
                "No WooCommerce product named %r; assets left in the media library", product_name
            )
            return media_ids
        images = [{"id": i["id"]} for i in product.get("images", []) if isinstance(i, dict)]
        changes = {
            "images": images + ([{"id": media_ids[0]}] if result.preview_url else []),
            "meta_data": [
                {"key": MODEL_URL_META, "value": result.model_url},
                {"key": TEXTURE_URL_META, "value": result.texture_url},
            ],
        }
        await wp.update_product(int(product["id"]), changes)
        log.info("Attached assets to WooCommerce product %s", product["id"])
    return media_ids

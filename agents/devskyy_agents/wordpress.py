"""WordPress media and WooCommerce products: where generated assets and SEO land.

WordPress REST (/wp-json/wp/v2/media) authenticates with an application password
(WORDPRESS_USER + WORDPRESS_APP_PASSWORD, HTTP basic); WooCommerce REST
(/wp-json/wc/v3/products) with its consumer key and secret (HTTP basic over https).

Creates are not idempotent at these APIs, so each one has a stable key derived
from the task id: a media item's slug, a product's SKU (which WooCommerce keeps
unique). Publishing looks the key up before creating, sends a create once (no
transport-level resend), and looks again when the answer was lost; the ids go
into the task's ledger so a retry does not even look.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from devskyy_agents.errors import ProviderRequestRejected, ProviderUnavailable
from devskyy_agents.http import RetryPolicy, check_config_url, json_body, make_client, request
from devskyy_agents.models import Generate3DResult
from devskyy_agents.registry import RunContext

T = TypeVar("T")

log = logging.getLogger(__name__)

PROVIDER = "WordPress"
MODEL_URL_META = "_devskyy_3d_model_url"
TEXTURE_URL_META = "_devskyy_3d_texture_url"
MAX_ASSET_BYTES = 100 * 1024 * 1024
SEND_ONCE = RetryPolicy(max_attempts=1)
ATTACHED_KEY = "woocommerce:attached"


def media_slug(task_id: str, role: str) -> str:
    """The stable key of one generated asset in the media library."""
    return f"devskyy-{task_id}-{role}"


def product_sku(task_id: str) -> str:
    """The SKU of the draft product a task creates when no product has the given name."""
    return f"devskyy-{task_id}"


async def find_or_create(
    lookup: Callable[[], Awaitable[T | None]], create: Callable[[], Awaitable[T]], what: str
) -> T:
    """Look up by a stable key; create only when absent; look again after an unanswered create.

    A create answered with a transport error or 5xx may have happened, and one
    refused as a duplicate (a taken SKU) certainly exists: both are looked up.
    """
    found = await lookup()
    if found is not None:
        return found
    try:
        return await create()
    except (ProviderUnavailable, ProviderRequestRejected):
        found = await lookup()
        if found is None:
            raise
        log.info("%s was created by a request whose answer was lost: using it", what)
        return found


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

    async def upload_media(
        self, filename: str, content: bytes, content_type: str, slug: str
    ) -> int:
        """Create a media item, sent once (see find_or_create)."""
        body = await self._json(
            self._wp,
            "POST",
            "/wp-json/wp/v2/media",
            content=content,
            params={"slug": slug, "title": slug},
            headers={
                "Content-Type": content_type,
                "Content-Disposition": f'attachment; filename="{filename}"',
            },
            policy=SEND_ONCE,
        )
        return _id_of(body, "media upload")

    async def find_media(self, slug: str) -> int | None:
        found = await self._json(self._wp, "GET", "/wp-json/wp/v2/media", params={"slug": slug})
        if not isinstance(found, list):
            raise ProviderUnavailable(f"{PROVIDER} media search returned no list")
        for item in found:
            if isinstance(item, dict) and item.get("slug") == slug:
                return _id_of(item, "media search")
        return None

    async def find_product_by_sku(self, sku: str) -> dict[str, Any] | None:
        found = await self._json(self._wc, "GET", "/wp-json/wc/v3/products", params={"sku": sku})
        if not isinstance(found, list):
            raise ProviderUnavailable(f"{PROVIDER} product search returned no list")
        return next((p for p in found if isinstance(p, dict) and p.get("sku") == sku), None)

    async def create_product(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create a product, sent once (see find_or_create)."""
        body = await self._json(
            self._wc, "POST", "/wp-json/wc/v3/products", json=fields, policy=SEND_ONCE
        )
        _id_of(body, "product create")
        product: dict[str, Any] = body
        return product

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


def _id_of(body: Any, what: str) -> int:
    item_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(item_id, int):
        raise ProviderUnavailable(f"{PROVIDER} {what} returned no id")
    return item_id


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
    ctx: RunContext, task_id: str, product_name: str | None, result: Generate3DResult
) -> list[int]:
    """Upload preview and model to the media library; attach them to the product.

    The product is the one named `product_name`, or a draft this task creates
    (SKU `devskyy-<task id>`) when none has that name.
    """
    media_ids: list[int] = []
    async with WordPress(ctx) as wp, make_client() as downloads:
        assets = [
            ("preview", result.preview_url, "preview.webp"),
            ("model", result.model_url, "model.glb"),
        ]
        for role, url, fallback in assets:
            if url:
                media_ids.append(
                    await _publish_media(ctx, wp, downloads, task_id, role, url, fallback)
                )
        if product_name is None or ctx.ledger.get(ATTACHED_KEY) is not None:
            return media_ids
        sku = product_sku(task_id)

        async def lookup() -> dict[str, Any] | None:
            return await wp.find_product_by_sku(sku) or await wp.find_product(product_name)

        draft = {"name": product_name, "type": "simple", "status": "draft", "sku": sku}
        product = await find_or_create(
            lookup, lambda: wp.create_product(draft), f"WooCommerce product {sku}"
        )
        known = [i["id"] for i in product.get("images", []) if isinstance(i, dict)]
        if result.preview_url and media_ids[0] not in known:
            known.append(media_ids[0])
        changes = {
            "images": [{"id": i} for i in known],
            "meta_data": [
                {"key": MODEL_URL_META, "value": result.model_url},
                {"key": TEXTURE_URL_META, "value": result.texture_url},
            ],
        }
        await wp.update_product(int(product["id"]), changes)
        ctx.ledger.record(ATTACHED_KEY, int(product["id"]))
        log.info("Attached assets to WooCommerce product %s", product["id"])
    return media_ids


async def _publish_media(
    ctx: RunContext,
    wp: WordPress,
    downloads: httpx.AsyncClient,
    task_id: str,
    role: str,
    url: str,
    fallback: str,
) -> int:
    """One asset in the media library, uploaded at most once per task."""
    key = f"wordpress:media:{role}"
    recorded = ctx.ledger.get(key)
    if isinstance(recorded, int):
        return recorded
    slug = media_slug(task_id, role)

    async def upload() -> int:
        content, content_type = await _download(downloads, url, ctx.deadline)
        return await wp.upload_media(_filename(url, fallback), content, content_type, slug)

    media_id = await find_or_create(lambda: wp.find_media(slug), upload, f"media {slug}")
    ctx.ledger.record(key, media_id)
    return media_id

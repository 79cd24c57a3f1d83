"""WordPress media + WooCommerce products on loopback (basic auth, wp/v2 and wc/v3 routes).

The documented behaviour the agents rely on: a media item's slug comes from the
`slug` parameter (made unique with -2, -3, ... like `wp_unique_post_slug`) and
`GET /wp/v2/media?slug=` finds it; WooCommerce keeps SKUs unique (a create with a
taken SKU is answered 400 `product_invalid_sku`) and `GET /wc/v3/products?sku=`
finds a product by SKU. Every effect is counted: media uploads, product
creations, product updates.
"""

from __future__ import annotations

import base64
import itertools
from collections import Counter
from typing import Any

from tests.providers.base import Provider, Reply, Request


def _basic(request: Request) -> tuple[str, str]:
    value = request.headers.get("authorization", "")
    if not value.lower().startswith("basic "):
        return "", ""
    user, _, password = base64.b64decode(value[6:]).decode().partition(":")
    return user, password


def _first(request: Request, name: str) -> str:
    return request.query.get(name, [""])[0]


class WordPressServer(Provider):
    def __init__(self) -> None:
        super().__init__()
        self.wp_auth = ("editor", "abcd efgh ijkl mnop")
        self.wc_auth = ("ck_test_consumer", "cs_test_secret")
        self.media: dict[int, dict[str, Any]] = {}
        self.products: dict[int, dict[str, Any]] = {
            101: {
                "id": 101,
                "name": "BLACK Rose Hoodie",
                "slug": "black-rose-hoodie",
                "sku": "",
                "status": "publish",
                "images": [{"id": 7}],
                "meta_data": [],
            },
            102: {
                "id": 102,
                "name": "Signature Tee",
                "slug": "signature-tee",
                "sku": "",
                "status": "publish",
                "images": [],
                "meta_data": [],
            },
        }
        self.created_products: list[int] = []
        self.updates: Counter[int] = Counter()  # successful PUTs per product id
        self._media_ids = itertools.count(500)
        self._product_ids = itertools.count(200)

    def route(self, request: Request) -> Reply:
        if request.path == "/wp-json/wp/v2/media":
            if _basic(request) != self.wp_auth:
                return Reply.json({"code": "rest_not_logged_in", "message": "not logged in"}, 401)
            if request.method == "POST":
                return self._upload(request)
            slug = _first(request, "slug")
            with self.lock:
                found = [m for m in self.media.values() if not slug or m["slug"] == slug]
            return Reply.json(found)
        if request.path.startswith("/wp-json/wc/v3/products"):
            if _basic(request) != self.wc_auth:
                return Reply.json({"code": "woocommerce_rest_cannot_view", "message": "no"}, 401)
            with self.lock:
                return self._products(request)
        return Reply.json({"code": "rest_no_route", "message": "No route"}, 404)

    def _upload(self, request: Request) -> Reply:
        disposition = request.headers.get("content-disposition", "")
        if "filename=" not in disposition or not request.body:
            return Reply.json({"code": "rest_upload_no_data", "message": "no data"}, 400)
        filename = disposition.split("filename=", 1)[1].strip('"')
        wanted = _first(request, "slug") or filename.rsplit(".", 1)[0].lower()
        with self.lock:
            taken = {m["slug"] for m in self.media.values()}
            candidates = itertools.chain([wanted], (f"{wanted}-{n}" for n in itertools.count(2)))
            slug = next(s for s in candidates if s not in taken)
            media_id = next(self._media_ids)
            self.media[media_id] = {
                "id": media_id,
                "slug": slug,
                "size": len(request.body),
                "filename": filename,
                "mime_type": request.headers.get("content-type"),
                "source_url": f"{self.url}/wp-content/uploads/{filename}",
            }
        return Reply.json(self.media[media_id], 201)

    def _products(self, request: Request) -> Reply:
        rest = request.path.removeprefix("/wp-json/wc/v3/products").strip("/")
        if not rest and request.method == "GET":
            search = _first(request, "search").lower()
            slug = _first(request, "slug")
            sku = _first(request, "sku")
            found = [
                p
                for p in self.products.values()
                if (slug and p["slug"] == slug)
                or (search and search in p["name"].lower())
                or (sku and p["sku"] == sku)
            ]
            return Reply.json(found)
        if not rest and request.method == "POST":
            return self._create(request.json())
        if rest.isdigit() and int(rest) in self.products:
            product = self.products[int(rest)]
            if request.method == "PUT":
                changes = request.json()
                if "images" in changes:
                    product["images"] = changes["images"]
                for entry in changes.get("meta_data", []):
                    product["meta_data"] = [
                        m for m in product["meta_data"] if m["key"] != entry["key"]
                    ]
                    product["meta_data"].append(entry)
                self.updates[product["id"]] += 1
            return Reply.json(product)
        return Reply.json(
            {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID."}, 404
        )

    def _create(self, fields: dict[str, Any]) -> Reply:
        sku = str(fields.get("sku") or "")
        if sku and any(p["sku"] == sku for p in self.products.values()):
            return Reply.json(
                {"code": "product_invalid_sku", "message": "Invalid or duplicated SKU."}, 400
            )
        if not fields.get("name"):
            return Reply.json({"code": "rest_missing_callback_param", "message": "name"}, 400)
        product_id = next(self._product_ids)
        name = str(fields["name"])
        self.products[product_id] = {
            "id": product_id,
            "name": name,
            "slug": name.lower().replace(" ", "-"),
            "sku": sku,
            "status": fields.get("status", "publish"),
            "images": list(fields.get("images", [])),
            "meta_data": list(fields.get("meta_data", [])),
        }
        self.created_products.append(product_id)
        return Reply.json(self.products[product_id], 201)

"""WordPress media + WooCommerce products on loopback (basic auth, wp/v2 and wc/v3 routes)."""

from __future__ import annotations

import base64
import itertools
from typing import Any

from tests.providers.base import Provider, Reply, Request


def _basic(request: Request) -> tuple[str, str]:
    value = request.headers.get("authorization", "")
    if not value.lower().startswith("basic "):
        return "", ""
    user, _, password = base64.b64decode(value[6:]).decode().partition(":")
    return user, password


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
                "images": [{"id": 7}],
                "meta_data": [],
            },
            102: {
                "id": 102,
                "name": "Signature Tee",
                "slug": "signature-tee",
                "images": [],
                "meta_data": [],
            },
        }
        self._media_ids = itertools.count(500)

    def route(self, request: Request) -> Reply:
        if request.path == "/wp-json/wp/v2/media" and request.method == "POST":
            if _basic(request) != self.wp_auth:
                return Reply.json({"code": "rest_not_logged_in", "message": "not logged in"}, 401)
            disposition = request.headers.get("content-disposition", "")
            if "filename=" not in disposition or not request.body:
                return Reply.json({"code": "rest_upload_no_data", "message": "no data"}, 400)
            media_id = next(self._media_ids)
            filename = disposition.split("filename=", 1)[1].strip('"')
            self.media[media_id] = {
                "id": media_id,
                "size": len(request.body),
                "filename": filename,
                "mime_type": request.headers.get("content-type"),
            }
            return Reply.json(
                {"id": media_id, "source_url": f"{self.url}/wp-content/uploads/{filename}"}, 201
            )
        if request.path.startswith("/wp-json/wc/v3/products"):
            if _basic(request) != self.wc_auth:
                return Reply.json({"code": "woocommerce_rest_cannot_view", "message": "no"}, 401)
            return self._products(request)
        return Reply.json({"code": "rest_no_route", "message": "No route"}, 404)

    def _products(self, request: Request) -> Reply:
        rest = request.path.removeprefix("/wp-json/wc/v3/products").strip("/")
        if not rest and request.method == "GET":
            search = request.query.get("search", [""])[0].lower()
            slug = request.query.get("slug", [""])[0]
            found = [
                p
                for p in self.products.values()
                if (slug and p["slug"] == slug) or (search and search in p["name"].lower())
            ]
            return Reply.json(found)
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
            return Reply.json(product)
        return Reply.json(
            {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID."}, 404
        )

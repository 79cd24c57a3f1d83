"""A small async Kubernetes API client (aiohttp underneath, see kube/transport.py).

Manifests stay plain dicts built by pure builders; this module only moves them.
A non-2xx answer raises the `errors.ApiError` subclass of its meaning
(`NotFound`, `Conflict`, ...), so callers catch by type: 409 as "already there"
(see `create_or_get`), 404 as "already gone" (see `delete`). JSON by orjson:
decoding watch events and answers was a tenth of the operator's CPU with json.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

import orjson

from devskyy_operator.kube.config import KubeConfig, auto_config
from devskyy_operator.kube.errors import ApiError, Conflict, NotFound, api_error
from devskyy_operator.kube.transport import TRANSPORT_ERRORS, KubeTransport

__all__ = ["TRANSPORT_ERRORS", "ApiError", "KubeClient", "PatchType", "resource_path"]

PatchType = Literal["merge", "strategic", "json", "apply"]
_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


def resource_path(
    api_version: str,
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """URL path of a collection or an object (core group for apiVersion 'v1')."""
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = prefix
    if namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


class KubeClient:
    """Async client; create once per process and close at shutdown."""

    def __init__(self, config: KubeConfig, timeout: float = 30.0):
        self.config = config
        self._transport = KubeTransport(config, read_timeout=timeout)

    @classmethod
    def from_env(cls, kubeconfig: str | None = None) -> KubeClient:
        return cls(auto_config(kubeconfig))

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str | int] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        content = None if body is None else orjson.dumps(body)
        headers = self._headers(content_type if content is not None else None)
        async with self._transport.open(
            method, path, data=content, params=params, headers=headers
        ) as response:
            status, raw = response.status, await response.read()
        data: dict[str, Any] = {}
        if raw:
            try:
                data = orjson.loads(raw)
            except ValueError:
                data = {"message": raw[:500].decode(errors="replace")}
        if status >= 400:
            raise api_error(status, data, method, path)
        return data

    async def get(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def get_text(self, path: str, params: Mapping[str, str | int] | None = None) -> bytes:
        """The raw body of a GET whose answer is not JSON (pods/log); errors as usual."""
        headers = {"Accept": "text/plain, */*"}
        async with self._transport.open("GET", path, params=params, headers=headers) as r:
            status, raw = r.status, await r.read()
        if status >= 400:
            try:
                data = orjson.loads(raw)
            except ValueError:
                data = {"message": raw[:500].decode(errors="replace")}
            raise api_error(status, data if isinstance(data, dict) else {}, "GET", path)
        return raw

    async def list(self, path: str, **params: str | int) -> list[dict[str, Any]]:
        """All items of a collection, following `continue` tokens."""
        items: list[dict[str, Any]] = []
        query: dict[str, str | int] = {"limit": 500, **params}
        while True:
            page = await self.get(path, query)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            query["continue"] = token

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body=body)

    async def create_or_get(
        self, path: str, body: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Create; on 409 return the existing object. Second item: created now."""
        try:
            return await self.create(path, body), True
        except Conflict:
            pass
        name = body["metadata"]["name"]
        return await self.get(f"{path}/{name}"), False

    async def patch(
        self, path: str, body: Any, patch_type: PatchType = "merge", **params: str | int
    ) -> dict[str, Any]:
        return await self.request(
            "PATCH", path, body=body, params=params, content_type=_PATCH_CONTENT_TYPES[patch_type]
        )

    async def replace(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("PUT", path, body=body)

    async def delete(
        self,
        path: str,
        propagation: str = "Background",
        preconditions: Mapping[str, str] | None = None,
        missing_ok: bool = True,
    ) -> dict[str, Any] | None:
        body: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if preconditions:
            body["preconditions"] = dict(preconditions)
        try:
            return await self.request("DELETE", path, body=body)
        except NotFound:
            if missing_ok:
                return None
            raise

    async def watch(
        self,
        path: str,
        resource_version: str | None,
        timeout_seconds: int,
        **params: str,
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream watch events until the server closes the watch."""
        query: dict[str, str | int] = {
            "watch": "true",
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": "true",
            **params,
        }
        if resource_version:
            query["resourceVersion"] = resource_version
        async with self._transport.open(
            "GET", path, params=query, headers=self._headers(), read_timeout=timeout_seconds + 10
        ) as response:
            if response.status >= 400:
                raw = await response.read()
                raise api_error(response.status, orjson.loads(raw or b"{}"), "WATCH", path)
            # Split lines ourselves: aiohttp's readline refuses lines over 128 KiB.
            pending = b""
            async for chunk in response.content.iter_any():
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if line.strip():
                        yield orjson.loads(line)
            if pending.strip():
                yield orjson.loads(pending)

"""The real API server's refusals arrive as the class of their meaning."""

from __future__ import annotations

import pytest

from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import Conflict, NotFound

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


async def test_not_found_and_conflict(kube: KubeClient, namespace: str) -> None:
    path = resource_path("v1", "configmaps", namespace)
    with pytest.raises(NotFound) as missing:
        await kube.get(f"{path}/absent")
    assert missing.value.reason == "NotFound"

    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}}
    first = await kube.create(path, body)
    with pytest.raises(Conflict) as exists:
        await kube.create(path, body)
    assert exists.value.reason == "AlreadyExists"
    again, created = await kube.create_or_get(path, body)
    assert (created, again["metadata"]["uid"]) == (False, first["metadata"]["uid"])

    await kube.replace(f"{path}/one", first | {"data": {"k": "v"}})
    with pytest.raises(Conflict) as stale:  # the resourceVersion of `first` is gone
        await kube.replace(f"{path}/one", first | {"data": {"k": "w"}})
    assert stale.value.reason == "Conflict"

    assert await kube.delete(f"{path}/one") is not None
    assert await kube.delete(f"{path}/one") is None  # already gone: missing_ok
    with pytest.raises(NotFound):
        await kube.delete(f"{path}/one", missing_ok=False)

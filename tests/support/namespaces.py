"""Test namespaces held to pod security `restricted`, as task pods run in production."""

from __future__ import annotations

import uuid

from devskyy_operator.kube.client import KubeClient, resource_path


async def restricted_namespace(kube: KubeClient, prefix: str) -> str:
    """Create `<prefix>-<random>` with `pod-security.kubernetes.io/enforce: restricted`."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }
    await kube.create(resource_path("v1", "namespaces"), body)
    return name

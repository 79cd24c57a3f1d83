"""Persistent volumes for task pods: a hostPath PV pre-bound to a PVC, as a local provisioner does.

The cluster runs the PV binder controller, so a PV whose `claimRef` names the
claim and a PVC whose `volumeName` names the PV become `Bound`; the kubelet
then mounts the PV's hostPath into the pod. The host directory is world-writable,
like a freshly formatted volume, because task pods run as uid 10001.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devskyy_operator.kube.client import KubeClient, resource_path
from tests.support.waiting import eventually


@dataclass(frozen=True)
class Claim:
    name: str
    volume: str  # the PersistentVolume's name (cluster-scoped)
    directory: Path  # the hostPath behind it


def volume_dir(root: Path, folder: str) -> Path:
    """A host directory backing a PV, writable by any uid (mode 0777)."""
    directory = root / folder
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)
    return directory


def manifests(namespace: str, claim: str, directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(PersistentVolume, PersistentVolumeClaim) pre-bound to each other."""
    pv_name = f"{namespace}-{claim}"
    pv: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": pv_name, "labels": {"devskyy.io/test-namespace": namespace}},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": str(directory), "type": "Directory"},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }
    pvc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": claim},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "",
            "volumeName": pv_name,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    return pv, pvc


async def bind_claim(
    kube: KubeClient, namespace: str, claim: str, directory: Path, timeout: float = 60.0
) -> Claim:
    """Create the PV and PVC and wait until the binder reports the claim `Bound`."""
    pv, pvc = manifests(namespace, claim, directory)
    await kube.create_or_get(resource_path("v1", "persistentvolumes"), pv)
    await kube.create_or_get(resource_path("v1", "persistentvolumeclaims", namespace), pvc)
    path = resource_path("v1", "persistentvolumeclaims", namespace, claim)

    async def bound() -> bool:
        current = await kube.get(path)
        return (current.get("status") or {}).get("phase") == "Bound"

    await eventually(bound, timeout=timeout, interval=0.1, what=f"PVC {namespace}/{claim} Bound")
    return Claim(claim, pv["metadata"]["name"], directory)


@asynccontextmanager
async def bound_claims(
    kube: KubeClient, namespace: str, root: Path, claims: Mapping[str, str]
) -> AsyncIterator[dict[str, Claim]]:
    """Bind `claim name -> folder under root` for the duration; delete the PVs afterwards.

    The PVCs go with their namespace; the cluster-scoped PVs (reclaim policy
    Retain) would outlive it, so they are deleted here.
    """
    made: dict[str, Claim] = {}
    try:
        for claim, folder in claims.items():
            made[claim] = await bind_claim(kube, namespace, claim, volume_dir(root, folder))
        yield made
    finally:
        for item in made.values():
            await kube.delete(resource_path("v1", "persistentvolumeclaims", namespace, item.name))
            await kube.delete(resource_path("v1", "persistentvolumes", name=item.volume))

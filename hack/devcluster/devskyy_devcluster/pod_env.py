"""What a kubelet prepares before a container starts: environment and volumes.

Env values from Secrets and ConfigMaps, field references, the in-cluster service
variables; volumes as local directories: emptyDir, hostPath, PVCs bound to
hostPath/local PVs, configMap/secret files, projected ServiceAccount tokens
(real TokenRequests), the root CA and downward API files.
"""

from __future__ import annotations

import base64
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import NotFound

IMAGE_USER = 10001  # what our task and control images declare as USER
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ConfigError(Exception):
    """CreateContainerConfigError: a referenced Secret/ConfigMap/key is missing."""


@dataclass(frozen=True)
class NodeContext:
    node_name: str
    apiserver_host: str
    apiserver_port: int
    state_dir: Path


def image_paths() -> list[Path]:
    """The 'image' every container runs from: this Python environment and source tree."""
    repo = Path(__file__).resolve().parents[3]
    paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), repo}
    return sorted(paths)


def base_env(pod: Mapping[str, Any], node: NodeContext) -> dict[str, str]:
    """Variables an image and the kubelet provide before the pod's own env."""
    venv_bin = Path(sys.prefix) / "bin"
    return {
        "PATH": f"{venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "HOSTNAME": pod["metadata"]["name"],
        "KUBERNETES_SERVICE_HOST": node.apiserver_host,
        "KUBERNETES_SERVICE_PORT": str(node.apiserver_port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(node.apiserver_port),
    }


class PodEnvironment:
    """Resolves references of one pod against the API server."""

    def __init__(self, kube: KubeClient, pod: Mapping[str, Any], node: NodeContext):
        self.kube = kube
        self.pod = pod
        self.node = node
        self.namespace: str = pod["metadata"]["namespace"]
        self._cache: dict[tuple[str, str], dict[str, str] | None] = {}

    async def _data(self, kind: str, name: str) -> dict[str, str] | None:
        """Decoded data of a Secret or ConfigMap, None when it does not exist."""
        key = (kind, name)
        if key not in self._cache:
            plural = "secrets" if kind == "secret" else "configmaps"
            try:
                obj = await self.kube.get(resource_path("v1", plural, self.namespace, name))
            except NotFound:
                self._cache[key] = None
                return None
            data: dict[str, str] = dict(obj.get("data") or {})
            if kind == "secret":
                data = {k: base64.b64decode(v).decode() for k, v in data.items()}
            self._cache[key] = data
        return self._cache[key]

    async def _key_ref(self, kind: str, ref: Mapping[str, Any]) -> str | None:
        data = await self._data(kind, ref["name"])
        optional = bool(ref.get("optional", False))
        if data is None or ref["key"] not in data:
            if optional:
                return None
            raise ConfigError(f'{kind} "{ref["name"]}" key "{ref["key"]}" not found')
        return data[ref["key"]]

    def field(self, path: str) -> str:
        meta = self.pod["metadata"]
        simple = {
            "metadata.name": meta["name"],
            "metadata.namespace": self.namespace,
            "metadata.uid": meta.get("uid", ""),
            "spec.nodeName": self.node.node_name,
            "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName", "default"),
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
        }
        if path in simple:
            return str(simple[path])
        match = re.match(r"metadata\.(labels|annotations)\['(.+)'\]$", path)
        if match:
            return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
        return ""

    async def container_env(self, container: Mapping[str, Any]) -> dict[str, str]:
        env = base_env(self.pod, self.node)
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind in ("secret", "configMap"):
                ref = source.get(f"{kind}Ref")
                if ref is None:
                    continue
                data = await self._data(
                    kind.lower() if kind == "secret" else "configmap", ref["name"]
                )
                if data is None:
                    if ref.get("optional"):
                        continue
                    raise ConfigError(f'{kind} "{ref["name"]}" not found')
                env.update({prefix + k: v for k, v in data.items()})
        for item in container.get("env") or []:
            value = await self._env_value(item, env)
            if value is not None:
                env[item["name"]] = value
        return env

    async def _env_value(self, item: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
        if "value" in item:
            return _VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), str(item["value"]))
        source = item.get("valueFrom") or {}
        if "secretKeyRef" in source:
            return await self._key_ref("secret", source["secretKeyRef"])
        if "configMapKeyRef" in source:
            return await self._key_ref("configmap", source["configMapKeyRef"])
        if "fieldRef" in source:
            return self.field(source["fieldRef"]["fieldPath"])
        return ""

    # ----------------------------------------------------------------- volumes

    async def materialise_volumes(self, pod_dir: Path, owner: tuple[int, int]) -> dict[str, Path]:
        """Create every volume of the pod; returns volume name -> host path."""
        paths: dict[str, Path] = {}
        for volume in self.pod["spec"].get("volumes") or []:
            name = volume["name"]
            target = pod_dir / "volumes" / name
            if "hostPath" in volume:
                paths[name] = Path(volume["hostPath"]["path"])
                continue
            if "persistentVolumeClaim" in volume:
                paths[name] = await self._claim_path(volume["persistentVolumeClaim"]["claimName"])
                continue
            target.mkdir(parents=True, exist_ok=True)
            if "configMap" in volume or "secret" in volume:
                await self._write_source_files(volume, target)
            elif "projected" in volume:
                for source in volume["projected"].get("sources") or []:
                    await self._write_source_files(source, target)
            elif "downwardAPI" in volume:
                self._write_downward(volume["downwardAPI"], target)
            # emptyDir and anything unknown: an empty writable directory
            _chown_tree(target, owner, writable="emptyDir" in volume)
            paths[name] = target
        return paths

    async def _claim_path(self, claim: str) -> Path:
        pvc = await self.kube.get(
            resource_path("v1", "persistentvolumeclaims", self.namespace, claim)
        )
        volume_name = (pvc.get("spec") or {}).get("volumeName")
        if not volume_name or (pvc.get("status") or {}).get("phase") != "Bound":
            raise ConfigError(f'persistentvolumeclaim "{claim}" is not bound')
        pv = await self.kube.get(resource_path("v1", "persistentvolumes", name=volume_name))
        spec = pv["spec"]
        path = (spec.get("hostPath") or spec.get("local") or {}).get("path")
        if not path:
            raise ConfigError(f'persistentvolume "{volume_name}" is neither hostPath nor local')
        return Path(path)

    async def _write_source_files(self, source: Mapping[str, Any], target: Path) -> None:
        if "serviceAccountToken" in source:
            spec = source["serviceAccountToken"]
            token = await self._request_token(spec)
            _write_file(target / spec["path"], token, 0o644)
            return
        if "downwardAPI" in source:
            self._write_downward(source["downwardAPI"], target)
            return
        for kind in ("configMap", "secret"):
            ref = source.get(kind)
            if ref is None:
                continue
            name = ref.get("name") or ref.get("secretName")
            data = await self._data("secret" if kind == "secret" else "configmap", name)
            if data is None:
                if ref.get("optional"):
                    return
                raise ConfigError(f'{kind} "{name}" not found')
            items = ref.get("items") or [{"key": k, "path": k} for k in data]
            mode = int(ref.get("defaultMode", 0o644))
            for item in items:
                if item["key"] in data:
                    _write_file(
                        target / item["path"], data[item["key"]], int(item.get("mode", mode))
                    )

    def _write_downward(self, spec: Mapping[str, Any], target: Path) -> None:
        for item in spec.get("items") or []:
            if "fieldRef" in item:
                _write_file(target / item["path"], self.field(item["fieldRef"]["fieldPath"]), 0o644)

    async def _request_token(self, spec: Mapping[str, Any]) -> str:
        """A real bound token from the TokenRequest API, as the kubelet gets it."""
        account = self.pod["spec"].get("serviceAccountName") or "default"
        body: dict[str, Any] = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": int(spec.get("expirationSeconds", 3607)),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": self.pod["metadata"]["name"],
                    "uid": self.pod["metadata"]["uid"],
                },
            },
        }
        if spec.get("audience"):
            body["spec"]["audiences"] = [spec["audience"]]
        path = resource_path("v1", "serviceaccounts", self.namespace, account, "token")
        answer = await self.kube.create(path, body)
        return str(answer["status"]["token"])


def _write_file(path: Path, content: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(mode)


def _chown_tree(root: Path, owner: tuple[int, int], writable: bool) -> None:
    """Volumes belong to the pod's uid/fsGroup, as the kubelet arranges it."""
    if os.geteuid() != 0:
        return
    for directory, dirs, files in os.walk(root):
        for name in [directory, *(os.path.join(directory, f) for f in [*dirs, *files])]:
            os.lchown(name, owner[0], owner[1])
    if writable:
        root.chmod(0o777)

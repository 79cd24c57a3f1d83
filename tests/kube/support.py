"""Real pieces for the configuration tests: an exec credential plugin, kubeconfig
files, and an HTTP CONNECT proxy on loopback that counts its tunnels."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient
from tests.support.ports import free_port

EXEC_API_VERSION = "client.authentication.k8s.io/v1"

# The plugin answers its n-th run with the n-th entry of answers.json (the last
# one repeats) and counts its runs; it checks that it was called as a plugin and
# keeps what it was given (KUBERNETES_EXEC_INFO, $PLUGIN_GREETING) in seen.json.
PLUGIN_SOURCE = """\
import json, os, sys
from pathlib import Path
state = Path(sys.argv[1])
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert info["kind"] == "ExecCredential", info
seen = {"info": info, "greeting": os.environ.get("PLUGIN_GREETING")}
(state / "seen.json").write_text(json.dumps(seen))
runs = state / "runs"
n = int(runs.read_text()) if runs.exists() else 0
runs.write_text(str(n + 1))
answers = json.loads((state / "answers.json").read_text())
status = answers[min(n, len(answers) - 1)]
if status is None:
    sys.exit("plugin: no credential for you")
print(json.dumps({"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": status}))
"""


@dataclass
class ExecPlugin:
    """A credential plugin script; `answers` are ExecCredential statuses by run (None: fail)."""

    directory: Path
    answers: list[dict[str, Any] | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.script.write_text(PLUGIN_SOURCE)
        self.set_answers(self.answers)

    @property
    def script(self) -> Path:
        return self.directory / "plugin.py"

    def set_answers(self, answers: list[dict[str, Any] | None]) -> None:
        self.answers = answers
        (self.directory / "answers.json").write_text(json.dumps(answers))

    @property
    def seen(self) -> dict[str, Any]:
        """What the last run was given."""
        return dict(json.loads((self.directory / "seen.json").read_text()))

    @property
    def runs(self) -> int:
        path = self.directory / "runs"
        return int(path.read_text()) if path.exists() else 0

    def user(self, api_version: str = EXEC_API_VERSION, **extra: Any) -> dict[str, Any]:
        return {
            "exec": {
                "apiVersion": api_version,
                "command": sys.executable,
                "args": [str(self.script), str(self.directory)],
                "interactiveMode": "Never",
                **extra,
            }
        }


def cluster_entry(cluster: LocalCluster, **extra: Any) -> dict[str, Any]:
    assert cluster.pki is not None
    entry: dict[str, Any] = {"server": cluster.server, **extra}
    if not entry.get("insecure-skip-tls-verify"):
        entry["certificate-authority"] = str(cluster.pki.ca_cert)
    return entry


def write_kubeconfig(
    path: Path,
    clusters: dict[str, dict[str, Any]] | None = None,
    users: dict[str, dict[str, Any]] | None = None,
    contexts: dict[str, tuple[str, str] | dict[str, Any]] | None = None,
    current: str | None = None,
) -> Path:
    """A kubeconfig file; a context is (cluster, user) or a whole entry (with namespace)."""
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in (clusters or {}).items()],
        "users": [{"name": n, "user": u} for n, u in (users or {}).items()],
        "contexts": [
            {"name": n, "context": c if isinstance(c, dict) else {"cluster": c[0], "user": c[1]}}
            for n, c in (contexts or {}).items()
        ],
    }
    if current is not None:
        doc["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def whoami(kube: KubeClient) -> str:
    """The user name the API server authenticated us as (SelfSubjectReview)."""
    review = await kube.create(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    return str(review["status"]["userInfo"]["username"])


class ConnectProxy:
    """HTTP CONNECT proxy on loopback: tunnels TCP to the requested host, counts tunnels.

    Only to loopback and the `also_to` hosts (the apiserver's, on the node link).
    """

    def __init__(self, also_to: tuple[str, ...] = ()) -> None:
        self.allowed = ("127.0.0.1", "localhost", *also_to)
        self.port = free_port()
        self.tunnels: list[str] = []  # "host:port" of each CONNECT
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        host, _, port = target.rpartition(":")
        if method != "CONNECT" or host not in self.allowed:
            writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        self.tunnels.append(target)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        for pipe in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
            task = asyncio.ensure_future(pipe)
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()

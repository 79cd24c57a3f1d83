"""A TCP proxy in front of the API server that a test can stall or cut.

Real outages without touching the shared control plane: TLS passes through
untouched, so the bridge sees exactly what a network partition looks like.
Modes: "forward"; "hold" (connections stay open, nothing is forwarded either
way: requests hang); "swallow" (requests reach the server, answers never come
back, except the TLS handshake of new connections: answers are only dropped
once the client sent more than its ClientHello); "refuse" (every connection is reset, new ones too).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import yaml

from tests.support.ports import free_port


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = free_port()
        self.mode = "forward"
        self._flowing = asyncio.Event()  # clear while in "hold"
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._flowing.set()
        self._cut()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == "hold":
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode == "refuse":
            self._cut()

    def _cut(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
            handler.add_done_callback(self._handlers.discard)
        if self.mode == "refuse":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        sent = [0]  # chunks the client sent: 1 = ClientHello only
        await asyncio.gather(
            self._pipe(reader, up_writer, sent, upstream=True),
            self._pipe(up_reader, writer, sent, upstream=False),
            return_exceptions=True,
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        sent: list[int],
        *,
        upstream: bool,
    ) -> None:
        while data := await reader.read(65536):
            await self._flowing.wait()
            if upstream:
                sent[0] += 1
            elif self.mode == "swallow" and sent[0] > 1:
                continue
            writer.write(data)
            await writer.drain()
        writer.close()


def kubeconfig_via(kubeconfig: Path, port: int, directory: Path) -> Path:
    """A copy of `kubeconfig` whose server is 127.0.0.1:`port` (the cert covers 127.0.0.1)."""
    doc = yaml.safe_load(kubeconfig.read_text())
    for cluster in doc["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = directory / f"kubeconfig-{port}"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path

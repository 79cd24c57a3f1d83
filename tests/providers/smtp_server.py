"""A real SMTP server on loopback (aiosmtpd) that records messages and can refuse recipients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.ports import free_port


@dataclass
class Mailbox:
    refuse: set[str] = field(default_factory=set)
    messages: list[Message] = field(default_factory=list)

    async def handle_RCPT(
        self,
        server: Any,
        session: Any,
        envelope: Any,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(mailbox: Mailbox, host: str = "127.0.0.1") -> Iterator[tuple[str, int]]:
    port = free_port(host)
    controller = Controller(mailbox, hostname=host, port=port)
    controller.start()
    try:
        yield host, port
    finally:
        controller.stop()

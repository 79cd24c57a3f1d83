"""A real SMTP server on loopback (aiosmtpd) that records messages and can refuse recipients.

It can also break a session at a recipient the test names: `lose_before` closes
the connection when that recipient's message arrives, before accepting it (not
delivered); `lose_after` accepts and keeps the message, then closes the
connection before the 250 reply (delivered, but the client cannot know).
Each rule fires once per count.
"""

from __future__ import annotations

from collections import Counter
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
    lose_before: Counter[str] = field(default_factory=Counter)
    lose_after: Counter[str] = field(default_factory=Counter)

    def received(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]

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
        recipient = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        if self.lose_before[recipient] > 0:
            self.lose_before[recipient] -= 1
            server.transport.close()
            return "421 4.4.2 connection lost"
        self.messages.append(message_from_bytes(envelope.content))
        if self.lose_after[recipient] > 0:
            self.lose_after[recipient] -= 1
            server.transport.close()
            return "421 4.4.2 connection lost"
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

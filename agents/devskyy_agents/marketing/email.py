"""Email delivery over SMTP, one personalised message per recipient.

smtplib is blocking, so the whole session runs in a worker thread. One connection
serves all recipients; a refused recipient counts as failed, not as a task error.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from devskyy_agents.errors import CredentialsRejected, ProviderUnavailable
from devskyy_agents.marketing.content import CampaignContent
from devskyy_agents.registry import RunContext


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str
    password: str
    sender: str
    starttls: bool
    timeout: float

    @classmethod
    def from_ctx(cls, ctx: RunContext) -> SmtpConfig:
        return cls(
            host=ctx.require("SMTP_HOST", "email campaigns"),
            port=int(ctx.config.get("SMTP_PORT", "587")),
            username=ctx.config.get("SMTP_USERNAME", ""),
            password=ctx.config.get("SMTP_PASSWORD", ""),
            sender=ctx.require("SMTP_FROM", "email campaigns"),
            starttls=ctx.config.get("SMTP_STARTTLS", "true").lower() in ("1", "true", "yes"),
            timeout=float(ctx.config.get("SMTP_TIMEOUT", "30")),
        )


def first_name(address: str) -> str:
    """'jane.doe@example.com' -> 'Jane': a greeting, not an identity."""
    local = address.split("@", 1)[0]
    word = local.replace("_", ".").replace("-", ".").replace("+", ".").split(".")[0]
    return word.capitalize() if word.isalpha() else "there"


def personalise(content: CampaignContent, recipient: str, sender: str) -> EmailMessage:
    name = first_name(recipient)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = content.subject.replace("{name}", name) or "SkyyRose"
    message.set_content(content.body.replace("{name}", name))
    return message


def _send_all(config: SmtpConfig, content: CampaignContent, recipients: list[str]) -> int:
    """Blocking: returns how many messages the server accepted."""
    sent = 0
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.username:
                smtp.login(config.username, config.password)
            for recipient in recipients:
                try:
                    smtp.send_message(personalise(content, recipient, config.sender))
                    sent += 1
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError):
                    continue
    except smtplib.SMTPAuthenticationError:
        raise CredentialsRejected("the SMTP server rejected the credentials") from None
    except (OSError, smtplib.SMTPException) as exc:
        if sent == 0:
            raise ProviderUnavailable(f"SMTP unavailable: {type(exc).__name__}") from None
        # Some mail went out: a retry would send it twice, so report what we have.
    return sent


async def send_campaign(
    ctx: RunContext, content: CampaignContent, recipients: list[str]
) -> tuple[int, int]:
    """(sent_count, failed_count)."""
    config = SmtpConfig.from_ctx(ctx)
    sent = await asyncio.to_thread(_send_all, config, content, recipients)
    return sent, len(recipients) - sent

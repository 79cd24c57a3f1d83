"""Email delivery over SMTP, one personalised message per recipient.

smtplib is blocking, so the whole session runs in a worker thread. One connection
serves all recipients; a refused recipient counts as failed, not as a task error.

Each recipient's outcome goes into the task's ledger: `sending` just before the
message, `sent` once the server accepted it, `refused` when it refused it. A
retry sends only to recipients without an outcome, so `sent_count` counts every
accepted recipient once across attempts. A recipient left at `sending` (the
connection died while the server had the message) is in doubt: the retry sends
it again with the same Message-ID, derived from (campaign, recipient), so the
receiving side can drop the duplicate. These records are fsynced in groups
(ledger.py): the pod's death loses none of them, a node crash at most one group,
whose recipients the retry then mails again, with the same Message-IDs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr

from devskyy_agents.errors import CredentialsRejected, ProviderUnavailable
from devskyy_agents.ledger import Ledger, digest_key
from devskyy_agents.marketing.content import CampaignContent
from devskyy_agents.registry import RunContext

log = logging.getLogger(__name__)

SENDING, SENT, REFUSED = "sending", "sent", "refused"


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


def message_id(campaign_id: str, recipient: str, sender: str) -> str:
    """The same Message-ID on every attempt for one (campaign, recipient)."""
    digest = hashlib.sha256(f"{campaign_id}\n{recipient}".encode()).hexdigest()[:32]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "devskyy.invalid"
    return f"<{digest}@{domain}>"


def recipient_key(recipient: str) -> str:
    return digest_key("email", recipient)


def personalise(
    content: CampaignContent, recipient: str, sender: str, campaign_id: str
) -> EmailMessage:
    name = first_name(recipient)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = message_id(campaign_id, recipient, sender)
    message["Subject"] = content.subject.replace("{name}", name) or "SkyyRose"
    message.set_content(content.body.replace("{name}", name))
    return message


def _send_all(
    config: SmtpConfig,
    content: CampaignContent,
    campaign_id: str,
    recipients: Sequence[str],
    ledger: Ledger,
) -> str | None:
    """Blocking: record each recipient's outcome; the error name if the session broke off."""
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.username:
                smtp.login(config.username, config.password)
            for recipient in recipients:
                key = recipient_key(recipient)
                ledger.record(key, SENDING, sync=False)
                try:
                    smtp.send_message(personalise(content, recipient, config.sender, campaign_id))
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError):
                    ledger.record(key, REFUSED, sync=False)
                    continue
                ledger.record(key, SENT, sync=False)
    except smtplib.SMTPAuthenticationError:
        raise CredentialsRejected("the SMTP server rejected the credentials") from None
    except (OSError, smtplib.SMTPException) as exc:
        return type(exc).__name__
    return None


async def send_campaign(
    ctx: RunContext, campaign_id: str, content: CampaignContent, recipients: list[str]
) -> tuple[int, int]:
    """(sent_count, failed_count) over all attempts of the task."""
    config = SmtpConfig.from_ctx(ctx)
    ledger = ctx.ledger
    pending = [r for r in recipients if ledger.get(recipient_key(r)) not in (SENT, REFUSED)]
    in_doubt = sum(1 for r in pending if ledger.get(recipient_key(r)) == SENDING)
    if len(pending) < len(recipients):
        log.info(
            "Campaign %s: %d of %d recipients were handled by an earlier attempt",
            campaign_id, len(recipients) - len(pending), len(recipients),
        )  # fmt: skip
    if in_doubt:
        log.warning(
            "Campaign %s: resending %d message(s) an earlier attempt could not confirm "
            "(same Message-ID)", campaign_id, in_doubt,
        )  # fmt: skip
    broke_off = None
    if pending:
        broke_off = await asyncio.to_thread(
            _send_all, config, content, campaign_id, pending, ledger
        )
    sent = sum(1 for r in recipients if ledger.get(recipient_key(r)) == SENT)
    if broke_off is not None and (sent == 0 or ctx.retry_continues()):
        raise ProviderUnavailable(
            f"SMTP session broke off ({broke_off}) with {sent} of {len(recipients)} "
            "recipients sent" + ("; a retry sends only to the others" if sent else "")
        )
    # Without a retry that continues, resending would duplicate mail: report what went out.
    return sent, len(recipients) - sent

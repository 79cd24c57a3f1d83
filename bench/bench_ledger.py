"""What the task ledger costs: an e-mail campaign with the ledger on disk vs in memory.

Both sides run the real email agent (`send_campaign`) against one loopback SMTP
server (aiosmtpd), RECIPIENTS per campaign; one side's ledger is a file in a
task directory (two appends per recipient, sending and sent, fsynced in groups
as the agent does), the other's lives in memory (what the agent did before the
ledger, minus the bookkeeping). The sides alternate round by round, each round a new
task directory; figures are medians over ROUNDS. Also: record() alone, fsynced
appends vs the same lines written without fsync, on the same filesystem.
Usage: .venv/bin/python bench/bench_ledger.py [directory on the volume to measure]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.providers.smtp_server import Mailbox, smtp_server

from devskyy_agents.ledger import Ledger, encode_record
from devskyy_agents.marketing.content import CampaignContent
from devskyy_agents.marketing.email import send_campaign
from devskyy_agents.registry import RunContext

RECIPIENTS = 200
ROUNDS = 15
RECORDS = 2000
CONTENT = CampaignContent(subject="{name}, it is here", body="Hi {name},\n\nNew drop.\n")


async def campaign(config: dict[str, str], ledger: Ledger) -> float:
    ctx = RunContext(config=config, ledger=ledger)
    recipients = [f"fan{n}@example.com" for n in range(RECIPIENTS)]
    started = time.perf_counter()
    sent, _ = await send_campaign(ctx, "bench", CONTENT, recipients)
    elapsed = time.perf_counter() - started
    assert sent == RECIPIENTS
    ledger.close()
    return elapsed


def record_rates(root: Path) -> tuple[float, float, float]:
    """records/s through Ledger.record: (each fsynced, fsynced in groups, plain writes)."""
    rates = []
    for n_dir, sync in ((0, True), (1, False)):
        ledger = Ledger.open(root / f"records-{n_dir}", persistent=True)
        started = time.perf_counter()
        for n in range(RECORDS):
            ledger.record(f"email:{n:032d}", "sent", sync=sync)
        ledger.close()
        rates.append(RECORDS / (time.perf_counter() - started))
    fd = os.open(root / "plain.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    started = time.perf_counter()
    for n in range(RECORDS):
        os.write(fd, encode_record(f"email:{n:032d}", "sent"))
    plain = RECORDS / (time.perf_counter() - started)
    os.close(fd)
    return rates[0], rates[1], plain


async def run(root: Path) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as (host, port):
        config = {
            "SMTP_HOST": host,
            "SMTP_PORT": str(port),
            "SMTP_FROM": "shop@skyyrose.example",
            "SMTP_STARTTLS": "false",
        }
        on_disk: list[float] = []
        in_memory: list[float] = []
        for n in range(ROUNDS):
            pair = [
                (on_disk, lambda n=n: Ledger.open(root / f"task-{n}", persistent=True)),
                (in_memory, Ledger.in_memory),
            ]
            for times, make in pair if n % 2 == 0 else reversed(pair):
                times.append(await campaign(config, make()))
    disk, memory = statistics.median(on_disk), statistics.median(in_memory)
    synced, grouped, plain = record_rates(root)
    print(f"e-mail campaign of {RECIPIENTS} recipients, median of {ROUNDS} rounds, in {root}:")
    print(f"  ledger on disk : {disk:.3f} s ({RECIPIENTS / disk:,.0f} recipients/s)")
    print(f"  ledger in RAM  : {memory:.3f} s ({RECIPIENTS / memory:,.0f} recipients/s)")
    print(f"  ratio          : {disk / memory:.2f}x the time")
    print(f"  added per recipient: {(disk - memory) / RECIPIENTS * 1000:+.2f} ms")
    print(
        f"record(): {synced:,.0f}/s each fsynced, {grouped:,.0f}/s fsynced in groups "
        f"({2000 / grouped:.2f} ms per recipient); plain writes of the same lines: {plain:,.0f}/s"
    )


def main() -> None:
    if len(sys.argv) > 1:
        asyncio.run(run(Path(sys.argv[1])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


if __name__ == "__main__":
    main()

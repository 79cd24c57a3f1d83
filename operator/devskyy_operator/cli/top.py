"""`devskyy top`: a live view of queues, running tasks and recent failures.

Data comes only from the HTTP API (like the rest of the CLI), so it works with
the same token and needs no Redis or cluster access. `render` is pure (a
snapshot and a width in, text out) so the view is tested without a terminal;
`fetch_snapshot` and `watch` are the I/O around it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from devskyy_agents.clock import utc_iso

CLEAR = "\x1b[H\x1b[2J"
DETAILED_PENDING = 5  # per frame: each costs one GET (and one rate-limit token)


class Api(Protocol):
    def call(self, method: str, path: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Snapshot:
    """One frame's data, as the API returned it."""

    taken_at: str
    user: str
    queues: list[dict[str, Any]] = field(default_factory=list)
    running: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Snapshot:
        return cls(**body)


def fetch_snapshot(api: Api, user: str | None, limit: int = 10) -> Snapshot:
    """Queues, the user's running and pending tasks (first ones with position), DLQ head."""
    scope = {"user_id": user} if user else {}
    queues = api.call("GET", "/v1/queues")["queues"]
    running = api.call("GET", "/v1/tasks", params={**scope, "status": "processing", "limit": limit})
    pending = api.call("GET", "/v1/tasks", params={**scope, "status": "pending", "limit": limit})
    detailed = [
        api.call("GET", f"/v1/tasks/{t['id']}") for t in pending["tasks"][:DETAILED_PENDING]
    ]
    failures = api.call("GET", "/v1/dlq", params={"limit": limit, "offset": 0})
    return Snapshot(
        taken_at=utc_iso(timespec="seconds"),
        user=user or "(token's user)",
        queues=queues,
        running=running["tasks"],
        pending=detailed + pending["tasks"][DETAILED_PENDING:],
        failures=failures["dead_letters"],
    )


# ------------------------------------------------------------------ pure view


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _grid(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> list[str]:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return [line.rstrip() for line in lines]


def _position(task: dict[str, Any]) -> tuple[str, str]:
    queue = task.get("queue")
    if not queue:
        return "-", "-"
    wait = queue.get("estimated_wait_seconds")
    estimate = "unknown" if wait is None else f"{wait:.0f}s"
    return f"{queue['position'] + 1}/{queue['queued']}", estimate


def render(snapshot: Snapshot, width: int) -> str:
    """The frame as text, every line cut to `width` columns."""
    queued = sum(int(q.get("queued", 0)) for q in snapshot.queues)
    leased = sum(int(q.get("leased", 0)) for q in snapshot.queues)
    lines = [
        f"devskyy top  {snapshot.taken_at}  user {snapshot.user}",
        f"queued {queued}  leased {leased}  running {len(snapshot.running)}  "
        f"dead letters shown {len(snapshot.failures)}",
        "",
        "QUEUES",
        *_grid(
            [(q["type"], q["queued"], q["leased"]) for q in snapshot.queues],
            ["TYPE", "QUEUED", "LEASED"],
        ),
        "",
        f"RUNNING ({len(snapshot.running)})",
        *_grid(
            [
                (
                    t["id"],
                    t["type"],
                    t.get("tier"),
                    t["started_at"],
                    t["attempts"],
                    t["worker_host"],
                )
                for t in snapshot.running
            ],
            ["ID", "TYPE", "TIER", "STARTED", "ATTEMPTS", "HOST"],
        ),
        "",
        f"PENDING ({len(snapshot.pending)})",
        *_grid(
            [
                (t["id"], t["type"], t.get("tier"), t["priority"], *_position(t))
                for t in snapshot.pending
            ],
            ["ID", "TYPE", "TIER", "PRIORITY", "POSITION", "EST_WAIT"],
        ),
        "",
        f"RECENT FAILURES ({len(snapshot.failures)})",
        *_grid(
            [
                (d["task_id"], d["task_type"], d["failed_at"], d["reason"], d["error"])
                for d in snapshot.failures
            ],
            ["TASK_ID", "TYPE", "FAILED_AT", "REASON", "ERROR"],
        ),
    ]
    return "\n".join(line[:width] for line in lines)


def render_body(body: dict[str, Any]) -> str:
    """`devskyy top --once` output (the CLI's render hook)."""
    return render(Snapshot.from_dict(body), shutil.get_terminal_size().columns)


# ------------------------------------------------------------------ loop


def watch(
    api: Api,
    args: argparse.Namespace,
    *,
    write: Callable[[str], object] = sys.stdout.write,
    sleep: Callable[[float], None] = time.sleep,
) -> Snapshot:
    """Redraw every `args.interval` seconds until Ctrl-C; the last snapshot is returned."""
    snapshot = fetch_snapshot(api, args.user, args.limit)
    try:
        while True:
            frame = render(snapshot, shutil.get_terminal_size().columns)
            write(CLEAR + frame + "\n")
            sys.stdout.flush()
            sleep(args.interval)
            snapshot = fetch_snapshot(api, args.user, args.limit)
    except KeyboardInterrupt:
        write(CLEAR)
    return snapshot


def command(args: argparse.Namespace, api: Api) -> dict[str, Any]:
    """The `top` subcommand: live on a terminal (or with --watch), else one frame,
    so a pipe or a script never hangs in the loop."""
    live = args.watch or (not args.once and sys.stdout.isatty())
    if not live:
        return fetch_snapshot(api, args.user, args.limit).as_dict()
    return watch(api, args).as_dict()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="print one frame and exit")
    mode.add_argument("--watch", action="store_true", help="redraw even when not on a terminal")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between frames")
    parser.add_argument("-u", "--user", help="whose tasks (admins); default: the token's user")
    parser.add_argument("-n", "--limit", type=int, default=10, help="rows per section")

"""`devskyy sla`: SLA compliance per task type over a window (GET /v1/sla)."""

from __future__ import annotations

import argparse
import re
from typing import Any, Protocol

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+)([smhd]?)$")


class Api(Protocol):
    def call(self, method: str, path: str, **kwargs: Any) -> Any: ...


def window_seconds(text: str) -> int:
    """`90`, `30m`, `1h`, `7d` as seconds; argparse reports anything else by name."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration (like 30m, 1h, 7d): {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-w", "--window", type=window_seconds, default=3600,
        help="tasks that ended this recently (30m, 1h, 7d; default 1h)",
    )  # fmt: skip
    parser.add_argument("-t", "--type", help="one task type only")


def command(args: argparse.Namespace, api: Api) -> Any:
    params: dict[str, Any] = {"window_seconds": args.window}
    if args.type:
        params["type"] = args.type
    return api.call("GET", "/v1/sla", params=params)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render(body: dict[str, Any]) -> str:
    """One line per type and objective; `MISSED` where compliance is under target."""
    header = ("TYPE", "OBJECTIVE", "BOUND", "TARGET", "JUDGED", "MET", "COMPLIANCE", "")
    rows = [header]
    for kind, objectives in body["types"].items():
        for o in objectives:
            verdict = {True: "ok", False: "MISSED", None: "-"}[o["compliant"]]
            rows.append((
                kind, o["objective"], f"{o['bound_seconds']:g}s", _percent(o["target"]),
                str(o["judged"]), str(o["met"]), _percent(o["compliance"]), verdict,
            ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [f"tasks that ended {body['since']} .. {body['until']}"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)

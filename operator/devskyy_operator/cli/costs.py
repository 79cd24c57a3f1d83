"""`devskyy costs`: finished tasks' costs per type or per user (GET /v1/costs).

--since takes an ISO 8601 time or a span back from now (90m, 24h, 7d).
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from devskyy_agents.clock import utc_iso

if TYPE_CHECKING:
    from devskyy_operator.cli.main import ApiClient

_SPAN = re.compile(r"^([0-9]+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def since_value(text: str, now: datetime | None = None) -> str:
    """An ISO time as given, or a span (24h) as the ISO time that long ago."""
    match = _SPAN.match(text.strip())
    if match is None:
        return text
    span = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return utc_iso((now or datetime.now(UTC)) - span)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="ISO 8601, or back from now: 90m, 24h, 7d")
    parser.add_argument("--until", metavar="ISO8601")
    parser.add_argument("--group-by", choices=["type", "user"], default="type")
    parser.add_argument("-u", "--user", help="one user (operator/admin tokens)")


def command(args: argparse.Namespace, api: ApiClient) -> Any:
    params = {
        "since": since_value(args.since) if args.since else None,
        "until": args.until,
        "group_by": args.group_by,
        "user_id": args.user,
    }
    return api.call("GET", "/v1/costs", params={k: v for k, v in params.items() if v})


def render_body(body: dict[str, Any]) -> str:
    from devskyy_operator.cli.main import table

    key = str(body["group_by"])
    rows = [{key: g["key"], "tasks": g["tasks"], "total": g["total"]} for g in body["groups"]]
    rows.append({key: "TOTAL", "tasks": body["tasks"], "total": body["total"]})
    lines = [f"costs in {body['currency']} of tasks finished {body['since']} .. {body['until']}"]
    lines.append(table(rows, [key, "tasks", "total"]))
    return "\n".join(lines)

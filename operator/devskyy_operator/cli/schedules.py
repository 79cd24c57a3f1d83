"""`devskyy schedules`: DevSkyySchedules through the API (/v1/schedules).

`create -f` takes a DevSkyySchedule manifest (metadata.name + spec, as for
kubectl) or the API's own body (name + spec); `suspend`/`resume` are merge
patches of `spec.suspend`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from devskyy_operator.cli.main import ApiClient

COLUMNS = ["name", "user_id", "schedule", "time_zone", "suspend", "last", "next", "active"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="schedules", required=True)
    actions.add_parser("list", help="your schedules, last and next run")
    create = actions.add_parser("create", help="create a schedule from a YAML/JSON file")
    create.add_argument("-f", "--file", required=True, help="DevSkyySchedule YAML ('-' = stdin)")
    create.add_argument("--name", help="instead of metadata.name")
    for name, text in (
        ("get", "spec and status of a schedule"),
        ("suspend", "start no new runs"),
        ("resume", "start runs again"),
        ("delete", "delete a schedule (and its runs)"),
    ):
        actions.add_parser(name, help=text).add_argument("name")


def command(args: argparse.Namespace, api: ApiClient) -> Any:
    action = args.schedules
    if action == "list":
        return api.call("GET", "/v1/schedules")
    if action == "create":
        return api.call("POST", "/v1/schedules", json=read_schedule(args.file, args.name))
    path = f"/v1/schedules/{args.name}"
    if action in ("suspend", "resume"):
        return api.call("PATCH", path, json={"suspend": action == "suspend"})
    if action == "delete":
        api.call("DELETE", path)
        return {"name": args.name, "deleted": True}
    return api.call("GET", path)


def read_schedule(file: str, name: str | None) -> dict[str, Any]:
    from devskyy_operator.cli.main import CliError

    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
        document = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read the schedule: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("spec"), dict):
        raise CliError(f"{file}: expected a DevSkyySchedule (metadata.name and spec)")
    chosen = name or document.get("name") or (document.get("metadata") or {}).get("name")
    if not chosen:
        raise CliError(f"{file}: no metadata.name; give --name")
    return {"name": chosen, "spec": document["spec"]}


def row(view: dict[str, Any]) -> dict[str, Any]:
    spec, status = view["spec"], view.get("status") or {}
    return {
        "name": view["name"],
        "user_id": view["user_id"],
        "schedule": spec["schedule"],
        "time_zone": spec.get("timeZone", "UTC"),
        "suspend": spec.get("suspend", False),
        "last": status.get("lastScheduleTime"),
        "next": status.get("nextScheduleTime") or status.get("reason"),
        "active": len(status.get("active") or []),
    }


def render_body(action: str, body: Any) -> str:
    from devskyy_operator.cli.main import key_values, table

    if action == "list":
        return table([row(v) for v in body["schedules"]], COLUMNS)
    if action == "delete":
        return f"{body['name']}: deleted"
    shown = row(body)
    shown["applied"] = body["applied"]
    if (body.get("status") or {}).get("message"):
        shown["message"] = body["status"]["message"]
    return key_values(shown)

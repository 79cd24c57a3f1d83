"""`devskyy`: the command line of the task API (HTTP only, no Redis or cluster access).

Configured by DEVSKYY_API_URL and DEVSKYY_API_TOKEN (or --api-url/--token);
prints tables, or the API's JSON with --json. Exit status: 0 ok, 1 refused by
the API or unreachable, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml


class CliError(Exception):
    """A message for the user, printed without a traceback."""


class ApiClient:
    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise CliError(f"cannot reach the API at {self._http.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise CliError(_describe_error(response))
        return response.json() if response.content else None

    def close(self) -> None:
        self._http.close()


def _describe_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    lines = [f"HTTP {response.status_code}: {body.get('detail', body)}"]
    lines += [f"  {e['field']}: {e['message']}" for e in body.get("errors") or []]
    if "retry-after" in response.headers:
        lines.append(f"  retry after {response.headers['retry-after']} s")
    return "\n".join(lines)


# ------------------------------------------------------------------ output


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def key_values(item: dict[str, Any]) -> str:
    width = max(len(k) for k in item)
    return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in item.items())


# ------------------------------------------------------------------ commands


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _specs_from_args(args: argparse.Namespace) -> list[dict[str, Any]]:
    try:
        return _read_specs(args)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read the task: {exc}") from None


def _read_specs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One spec from the flags, or one per YAML document of -f (empty ones skipped)."""
    if not args.file:
        return [_spec_from_flags(args)]
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    specs: list[dict[str, Any]] = []
    for number, document in enumerate(yaml.safe_load_all(text), start=1):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise CliError(f"{args.file}: document {number}: expected a mapping")
        specs.append(document.get("spec", document))  # a DevSkyyTask CR, or a bare spec
    if not specs:
        raise CliError(f"{args.file}: no task in it")
    return specs


def _spec_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    if not args.type:
        raise CliError("give --type (with --input/--set) or -f FILE")
    task_input: dict[str, Any] = json.loads(args.input) if args.input else {}
    for pair in args.set or []:
        name, sep, value = pair.partition("=")
        if not sep:
            raise CliError(f"--set expects key=value, got {pair!r}")
        task_input[name] = _parse_value(value)
    user = args.user or os.environ.get("DEVSKYY_USER")
    if user and "user_id" not in task_input:
        task_input["user_id"] = user
    spec = {"type": args.type, "input": task_input}
    for name, key in (("priority", "priority"), ("timeout", "timeoutSeconds")):
        if getattr(args, name) is not None:
            spec[key] = getattr(args, name)
    if args.retries is not None:
        spec["retries"] = args.retries
    return spec


def cmd_enqueue(args: argparse.Namespace, api: ApiClient) -> Any:
    specs = _specs_from_args(args)
    if len(specs) > 1:
        return _enqueue_batch(args, specs, api)
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    params = {"task_id": args.id} if args.id else {}
    return api.call("POST", "/v1/tasks", json=specs[0], headers=headers, params=params)


def _enqueue_batch(args: argparse.Namespace, specs: list[dict[str, Any]], api: ApiClient) -> Any:
    """Several documents: one POST /v1/tasks:batch, all queued or none. With
    --idempotency-key K, document i (from 0) gets the key K-i, so rerunning the
    same file queues nothing twice."""
    if args.id:
        raise CliError("--id names one task; the file holds several")
    items: list[dict[str, Any]] = [{"spec": spec} for spec in specs]
    if args.idempotency_key:
        for index, item in enumerate(items):
            item["idempotency_key"] = f"{args.idempotency_key}-{index}"
    return api.call("POST", "/v1/tasks:batch", json={"tasks": items})


def cmd_status(args: argparse.Namespace, api: ApiClient) -> Any:
    return api.call("GET", f"/v1/tasks/{args.task_id}")


def cmd_list(args: argparse.Namespace, api: ApiClient) -> Any:
    params = {"user_id": args.user, "status": args.status, "limit": args.limit}
    return api.call("GET", "/v1/tasks", params={k: v for k, v in params.items() if v})


def cmd_history(args: argparse.Namespace, api: ApiClient) -> Any:
    """A task's transitions, or the task list with the API's filters (--all: every page)."""
    if args.task_id:
        args.view = "history task"
        return api.call("GET", f"/v1/tasks/{args.task_id}/history")
    params = {
        "user_id": args.user,
        "type": args.type,
        "status": args.status,
        "created_after": args.created_after,
        "created_before": args.created_before,
        "limit": args.limit,
        "cursor": args.cursor,
    }
    params = {k: v for k, v in params.items() if v is not None}
    page = api.call("GET", "/v1/tasks", params=params)
    tasks = list(page["tasks"])
    while args.all and page.get("next_cursor"):
        page = api.call("GET", "/v1/tasks", params={**params, "cursor": page["next_cursor"]})
        tasks += page["tasks"]
    return {"tasks": tasks, "next_cursor": page.get("next_cursor")}


def cmd_cancel(args: argparse.Namespace, api: ApiClient) -> Any:
    return api.call("DELETE", f"/v1/tasks/{args.task_id}")


def cmd_queues(args: argparse.Namespace, api: ApiClient) -> Any:
    return api.call("GET", "/v1/queues")


def cmd_dlq_list(args: argparse.Namespace, api: ApiClient) -> Any:
    return api.call("GET", "/v1/dlq", params={"limit": args.limit, "offset": args.offset})


def cmd_dlq_show(args: argparse.Namespace, api: ApiClient) -> Any:
    return api.call("GET", f"/v1/dlq/{args.task_id}")


def cmd_dlq_retry(args: argparse.Namespace, api: ApiClient) -> Any:
    return api.call("POST", f"/v1/dlq/{args.task_id}/retry")


def cmd_top(args: argparse.Namespace, api: ApiClient) -> Any:
    from devskyy_operator.cli import top

    return top.command(args, api)


def cmd_costs(args: argparse.Namespace, api: ApiClient) -> Any:
    from devskyy_operator.cli import costs

    return costs.command(args, api)


def cmd_schedules(args: argparse.Namespace, api: ApiClient) -> Any:
    from devskyy_operator.cli import schedules

    return schedules.command(args, api)


def render(command: str, body: Any) -> str:
    """Human-readable output of each command."""
    if command.startswith("schedules "):
        from devskyy_operator.cli import schedules

        return schedules.render_body(command.removeprefix("schedules "), body)
    if command == "costs":
        from devskyy_operator.cli import costs

        return costs.render_body(body)
    if command == "status":
        view = {k: v for k, v in body.items() if k != "queue"}
        if body.get("queue"):
            queue = body["queue"]
            view["position"] = f"{queue['position'] + 1} of {queue['queued']}"
            wait = queue["estimated_wait_seconds"]
            view["estimated_wait"] = "unknown" if wait is None else f"{wait:.0f}s"
        return key_values(view)
    if command == "list":
        columns = ["id", "type", "status", "priority", "created_at", "error"]
        return table(body["tasks"], columns)
    if command == "history":
        columns = ["id", "type", "status", "user_id", "attempts", "created_at", "run_seconds"]
        lines = [table(body["tasks"], [*columns, "reason"])]
        if body.get("next_cursor"):
            lines.append(f"more: --cursor {body['next_cursor']}")
        return "\n".join(lines)
    if command == "history task":
        task = body["task"]
        head = f"{task['id']}  {task['type']}  {task['status']}  user {task['user_id']}"
        columns = ["at", "kind", "attempts", "attempt", "reason", "exit_code", "error"]
        return head + "\n" + table(body["events"], columns)
    if command == "top":
        from devskyy_operator.cli import top

        return top.render_body(body)
    if command == "queues":
        return table(body["queues"], ["type", "queued", "leased"])
    if command == "sla":
        from devskyy_operator.cli import sla

        return sla.render(body)
    if command == "dlq list":
        columns = ["task_id", "task_type", "user_id", "failed_at", "reason", "error"]
        return table(body["dead_letters"], columns)
    if command == "dlq show":
        tail = str(body.get("log_tail") or "")
        shown = key_values({k: v for k, v in body.items() if k != "log_tail"})
        if not tail:
            return shown
        return f"{shown}\nlog tail:\n" + "\n".join(f"  {line}" for line in tail.splitlines())
    if command == "cancel":
        return f"{body['id']}: {body['outcome']}"
    if command == "enqueue" and "tasks" in body:  # a batch
        return "\n".join(
            _accepted(t) + (" (replayed)" if t["replayed"] else "") for t in body["tasks"]
        )
    return _accepted(body)  # enqueue, dlq retry


def _accepted(body: dict[str, Any]) -> str:
    return f"{body['id']} {body['status']} {body['location']}"


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="devskyy", description=__doc__.splitlines()[0])
    default_url = os.environ.get("DEVSKYY_API_URL", "http://127.0.0.1:8000")
    parser.add_argument("--api-url", default=default_url, help="$DEVSKYY_API_URL")
    parser.add_argument(
        "--token", default=os.environ.get("DEVSKYY_API_TOKEN"), help="$DEVSKYY_API_TOKEN"
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    commands = parser.add_subparsers(dest="command", required=True)

    enqueue = commands.add_parser("enqueue", help="queue a task")
    enqueue.add_argument(
        "-f",
        "--file",
        help="YAML/JSON TaskSpec or DevSkyyTask ('-' = stdin); several YAML documents"
        " are queued as one batch, all or none",
    )
    enqueue.add_argument("-t", "--type", help="task type, e.g. ml_training")
    enqueue.add_argument("-i", "--input", help="task input as a JSON object")
    enqueue.add_argument("-s", "--set", action="append", metavar="KEY=VALUE", help="input field")
    enqueue.add_argument("-u", "--user", help="user_id (default $DEVSKYY_USER)")
    enqueue.add_argument("-p", "--priority", type=int)
    enqueue.add_argument("--timeout", type=int, help="timeoutSeconds")
    enqueue.add_argument("--retries", type=int)
    enqueue.add_argument("--id", help="choose the task id")
    enqueue.add_argument("--idempotency-key", help="in a batch, document i gets KEY-i")
    enqueue.set_defaults(handler=cmd_enqueue, view="enqueue")

    for name, handler, text in (
        ("status", cmd_status, "status, result, queue position and estimated wait"),
        ("cancel", cmd_cancel, "cancel a task"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("task_id")
        sub.set_defaults(handler=handler, view=name)

    listing = commands.add_parser("list", help="your tasks, newest first")
    listing.add_argument("-u", "--user")
    listing.add_argument("--status", choices=["pending", "processing", "completed", "failed"])
    listing.add_argument("-n", "--limit", type=int, default=50)
    listing.set_defaults(handler=cmd_list, view="list")

    history = commands.add_parser(
        "history", help="task history: the list (filters as the API's) or one task's transitions"
    )
    history.add_argument("task_id", nargs="?", help="show this task's transitions")
    history.add_argument("-u", "--user", help="one user (operator/admin tokens)")
    history.add_argument("-t", "--type", help="task type")
    history.add_argument("--status", choices=["pending", "processing", "completed", "failed"])
    history.add_argument("--created-after", metavar="ISO8601")
    history.add_argument("--created-before", metavar="ISO8601")
    history.add_argument("-n", "--limit", type=int, default=50, help="per page")
    history.add_argument("--cursor", help="continue after a previous page")
    history.add_argument("--all", action="store_true", help="follow the cursor to the end")
    history.set_defaults(handler=cmd_history, view="history")

    commands.add_parser("queues", help="queued and leased tasks per type").set_defaults(
        handler=cmd_queues, view="queues"
    )
    top_parser = commands.add_parser("top", help="live view: queues, running tasks, failures")
    top_parser.set_defaults(handler=cmd_top, view="top")
    from devskyy_operator.cli.top import add_arguments

    add_arguments(top_parser)

    from devskyy_operator.cli import sla

    sla_parser = commands.add_parser("sla", help="SLA compliance per task type over a window")
    sla.add_arguments(sla_parser)
    sla_parser.set_defaults(handler=sla.command, view="sla")

    costs_parser = commands.add_parser("costs", help="costs of finished tasks per type or user")
    costs_parser.set_defaults(handler=cmd_costs, view="costs")
    from devskyy_operator.cli.costs import add_arguments as add_cost_arguments

    add_cost_arguments(costs_parser)

    schedules_parser = commands.add_parser("schedules", help="scheduled (cron) tasks")
    schedules_parser.set_defaults(handler=cmd_schedules, view="schedules")
    from devskyy_operator.cli.schedules import add_arguments as add_schedule_arguments

    add_schedule_arguments(schedules_parser)

    dlq = commands.add_parser("dlq", help="dead letters").add_subparsers(dest="dlq", required=True)
    dlq_list = dlq.add_parser("list", help="newest failures first")
    dlq_list.add_argument("-n", "--limit", type=int, default=50)
    dlq_list.add_argument("--offset", type=int, default=0)
    dlq_list.set_defaults(handler=cmd_dlq_list, view="dlq list")
    for name, handler in (("show", cmd_dlq_show), ("retry", cmd_dlq_retry)):
        sub = dlq.add_parser(name)
        sub.add_argument("task_id")
        sub.set_defaults(handler=handler, view=f"dlq {name}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    api = ApiClient(args.api_url, args.token)
    try:
        body = args.handler(args, api)
    except CliError as exc:
        print(f"devskyy: {exc}", file=sys.stderr)
        return 1
    finally:
        api.close()
    view = f"schedules {args.schedules}" if args.view == "schedules" else args.view
    print(json.dumps(body, indent=2) if args.json else render(view, body))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`devskyy-devcluster up`: the whole stack locally, sample tasks, live progress.

Brings up the local cluster, Redis, PostgreSQL, the operator, bridge, API and
history writer; submits one sample task of every type (kubectl apply for most,
the HTTP API for one, so both doors are shown); prints each task's transitions
until all have ended, then `devskyy history` (the long-term record in
PostgreSQL); then prints how to look around and keeps running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from devskyy_devcluster.sample_data import write_sample_datasets
from devskyy_devcluster.stack import NAMESPACE, REPO, LocalStack, task_phases

EXAMPLES = REPO / "examples" / "tasks"
FIRST_WAVE = [
    "diagnostic.yaml", "ml_training.yaml", "ml_training_trend.yaml",
    "ml_training_segmentation.yaml", "generate_3d.yaml", "fashn_tryon.yaml",
    "marketing_campaign.yaml",
]  # fmt: skip
SECOND_WAVE = ["ml_prediction.yaml"]  # needs the trained sentiment model
TERMINAL = {"Succeeded", "Failed", "Cancelled"}


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {message}", flush=True)


def submit_through_api(stack: LocalStack) -> str:
    body = {
        "type": "diagnostic",
        "priority": 300,
        "input": {"user_id": "demo", "sleep_seconds": 2, "result": {"via": "HTTP API"}},
    }
    response = httpx.post(
        f"{stack.api_url}/v1/tasks", json=body, timeout=10,
        headers={"Authorization": f"Bearer {stack.api_token}"},
    )  # fmt: skip
    response.raise_for_status()
    return str(response.json()["id"])


def follow(
    stack: LocalStack, expected: int, timeout: float, seen: dict[str, str]
) -> list[dict[str, Any]]:
    """Print every phase change until `expected` tasks have ended (or timeout)."""
    deadline = time.monotonic() + timeout
    tasks: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        tasks = asyncio.run(task_phases(stack))
        for task in tasks:
            if seen.get(task["name"]) != task["phase"]:
                extra = (
                    f"  ({task['reason']}: {task['message'][:100]})"
                    if task["phase"] == "Failed"
                    else ""
                )
                say(
                    f"{task['name']:32} {task['type']:19} "
                    f"{seen.get(task['name'], '-'):>9} -> {task['phase']}{extra}"
                )
                seen[task["name"]] = task["phase"]
        if len(tasks) >= expected and all(t["phase"] in TERMINAL for t in tasks):
            return tasks
        time.sleep(1.0)
    return tasks


def devskyy(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `devskyy` CLI against the stack's API."""
    env = {**os.environ, "DEVSKYY_API_URL": stack.api_url, "DEVSKYY_API_TOKEN": stack.api_token}
    return subprocess.run(
        [str(Path(sys.executable).parent / "devskyy"), *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def history(stack: LocalStack, names: set[str], timeout: float = 60.0) -> str:
    """`devskyy history` once every sample task's ending reached PostgreSQL."""
    deadline = time.monotonic() + timeout
    while True:
        listed = devskyy(stack, "--json", "history", "--all", "-n", "500")
        if listed.returncode == 0:
            ended = {
                t["id"] for t in json.loads(listed.stdout)["tasks"]
                if t["status"] in ("completed", "failed")
            }  # fmt: skip
            if names <= ended or time.monotonic() > deadline:
                return devskyy(stack, "history", "--all").stdout
        elif time.monotonic() > deadline:
            return listed.stderr
        time.sleep(1.0)


def summary(stack: LocalStack, tasks: list[dict[str, Any]]) -> str:
    assert stack.cluster is not None
    rows = "\n".join(
        f"  {t['name']:32} {t['type']:19} {t['phase']:10} attempts={t['attempts']} {t['reason']}"
        for t in sorted(tasks, key=lambda t: t["name"])
    )
    kubeconfig = stack.cluster.kubeconfig
    assert stack.cluster.the_node is not None
    registry = stack.cluster.the_node.addresses.registry
    return f"""
All sample tasks ended:
{rows}

Look around (in another terminal):
  export KUBECONFIG={kubeconfig}
  kubectl get devskyytasks -n {NAMESPACE} -o wide
  kubectl describe dst/sample-ml-training -n {NAMESPACE}
  redis-cli -p {stack.redis_port} ZRANGE queue:generate_3d 0 -1 WITHSCORES
  redis-cli -p {stack.redis_port} GET devskyy:dlq:sample-generate-3d
  curl -s -H 'Authorization: Bearer {stack.api_token}' {stack.api_url}/v1/tasks/sample-diagnostic
  curl -s http://127.0.0.1:{stack.ports["operator-metrics"]}/metrics | grep ^worker_
  .venv/bin/devskyy --api-url {stack.api_url} --token {stack.api_token} queues
  .venv/bin/devskyy --api-url {stack.api_url} --token {stack.api_token} history sample-ml-training
  psql '{stack.postgres.url if stack.postgres else ""}'   # tables tasks, task_events
Logs: {stack.logs}/ (operator, bridge, api, history, postgres)
      kubectl logs -n {NAMESPACE} job/sample-ml-training (task pods; the node's own
      daemons log to {stack.cluster.logs}/)
Images: built from task_images/, in the node's registry ({registry} from here);
      skaffold builds and deploys there too (hack/cluster/build.sh skaffold):
      skaffold run -p devcluster --default-repo={registry}/devskyy --insecure-registry={registry}
Stop: Ctrl-C here (everything started is stopped).
"""


def up(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    say(f"starting the local stack in {workdir} (first run builds binaries and images: ~25 min)")
    stack = LocalStack(workdir)
    stop = False

    def interrupt(*_: object) -> None:
        nonlocal stop
        stop = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        stack.start()
        assert stack.cluster is not None
        say(
            f"cluster up: {stack.cluster.server}; redis 127.0.0.1:{stack.redis_port}; "
            f"api {stack.api_url}"
        )
        written = write_sample_datasets(workdir / "volumes" / "datasets")
        say(f"sample datasets: {', '.join(written)}")
        for name in FIRST_WAVE:
            stack.kubectl("apply", "-n", NAMESPACE, "-f", str(EXAMPLES / name))
        api_task = submit_through_api(stack)
        say(f"submitted {len(FIRST_WAVE)} tasks with kubectl and {api_task} through the API")
        seen: dict[str, str] = {}
        tasks = follow(stack, len(FIRST_WAVE) + 1, args.timeout, seen)
        for name in SECOND_WAVE:
            stack.kubectl("apply", "-n", NAMESPACE, "-f", str(EXAMPLES / name))
        say("submitted the prediction task (uses the model trained above)")
        tasks = follow(stack, len(FIRST_WAVE) + 1 + len(SECOND_WAVE), args.timeout, seen)
        say("task history in PostgreSQL (devskyy history):")
        print(history(stack, {t["name"] for t in tasks}), flush=True)
        print(summary(stack, tasks), flush=True)
        if args.json:
            print(json.dumps(tasks, indent=2))
        if args.exit_when_done:
            return 0 if all(t["phase"] in TERMINAL for t in tasks) else 1
        while not stop:
            time.sleep(3600)
    except KeyboardInterrupt:
        say("stopping")
    finally:
        stack.stop()
        say("stopped; nothing left running")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="devskyy-devcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start the stack and run the sample tasks")
    start.add_argument("--workdir", default=".devskyy/stack")
    start.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for tasks")
    start.add_argument("--exit-when-done", action="store_true", help="stop after the summary")
    start.add_argument("--json", action="store_true", help="also print the final tasks as JSON")
    args = parser.parse_args()
    sys.exit(up(args))


if __name__ == "__main__":
    main()

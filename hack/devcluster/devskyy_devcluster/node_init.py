"""PID 1 of a node: mounts, network, then the node's daemons; reaps orphans.

Started by node.py through `unshare --net --mount --pid --fork --kill-child`,
so it runs in namespaces of its own: when it dies (however the launcher or
its parent died) the kernel kills every process of the node, containers
included, and the mount and network namespaces with everything in them
(overlay mounts, pod netns, the bridge, iptables rules) go with the last one.

It reads a NodeSpec (JSON) prepared by the launcher and waits for SIGUSR1
(the launcher's "the host end of the link is up") before it brings up the
node's end of the link and starts the daemons in order.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


def mount_node_paths(spec: dict[str, Any]) -> None:
    """Private mounts: standard paths backed by the node's state dirs."""
    run("mount", "--make-rshared", "/")
    for source, target in spec["bind_mounts"].items():
        Path(target).mkdir(parents=True, exist_ok=True)
        Path(source).mkdir(parents=True, exist_ok=True)
        run("mount", "--bind", source, target)
    for sysctl, source in spec["tunables"].items():
        # Bind a file with the value the kubelet wants over the host-wide
        # sysctl: it reads the value it would otherwise write.
        run("mount", "--bind", "-o", "ro", source, f"/proc/sys/{sysctl}")
        run("mount", "-o", "remount,bind,ro", f"/proc/sys/{sysctl}")


def bring_up_network(spec: dict[str, Any]) -> None:
    run("ip", "link", "set", "lo", "up")
    run("ip", "addr", "add", f"{spec['node_ip']}/{spec['prefix']}", "dev", "eth0")
    run("ip", "link", "set", "eth0", "up")
    for key, value in spec["sysctls"].items():
        Path(f"/proc/sys/{key}").write_text(str(value))


def start(daemon: dict[str, Any]) -> subprocess.Popen[bytes]:
    log = Path(daemon["log"])
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            daemon["args"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **daemon.get("env", {})},
        )


def wait_for_path(path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout}s")
        time.sleep(0.05)


def reap(children: dict[int, str]) -> str | None:
    """Collect every exited process; return the name of a daemon that exited."""
    dead = None
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return dead
        if pid == 0:
            return dead
        dead = children.pop(pid, dead)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    mount_node_paths(spec)
    Path(spec["ready_file"]).write_text("mounted\n")
    signal.sigwait({signal.SIGUSR1})
    bring_up_network(spec)
    children: dict[int, str] = {}
    for daemon in spec["daemons"]:
        process = start(daemon)
        children[process.pid] = daemon["name"]
        if daemon.get("wait_for"):
            wait_for_path(daemon["wait_for"], 60)
    stop = False

    def terminate(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, terminate)
    while not stop:
        dead = reap(children)
        if dead is not None:
            print(f"node daemon {dead} exited; stopping the node", file=sys.stderr, flush=True)
            break
        time.sleep(0.2)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    # Exiting as PID 1 makes the kernel kill whatever is left in the namespace.
    sys.exit(1 if not stop else 0)


if __name__ == "__main__":
    main()

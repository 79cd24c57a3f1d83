"""Cleans up after a node whose launcher died: what the kernel does not remove.

The kernel takes the node's processes, mounts and network along with its
namespaces; the kubelet's cgroup tree stays. node.py starts this process in a
session of its own (no PR_SET_PDEATHSIG) with a pipe on stdin and the node's
slot lock: end of input (a clean stop, or the launcher's death) means the node
is going; it waits for the node's link to vanish, removes the cgroup tree, and
only then lets go of the slot.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from devskyy_devcluster.node import remove_cgroup_tree


def main() -> None:
    host_link, cgroup_root = sys.argv[1], sys.argv[2]
    sys.stdin.buffer.read()  # returns at EOF: the launcher closed the pipe or died
    deadline = time.monotonic() + 60
    while Path(f"/sys/class/net/{host_link}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = remove_cgroup_tree(cgroup_root, timeout=30)
    if left:
        print(f"cgroups still busy after 30 s: {left[:5]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

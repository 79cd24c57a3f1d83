"""The bubblewrap command line that runs one container as a local process: pure.

The container sees the host's system directories read-only, the "image" (the
Python environment and source tree the node agent itself runs from) read-only,
its volumes at their mountPaths, a private /dev with its termination-message
file, and nothing of /root, /home or the work tree beyond that. It runs as the
pod's non-root uid via setpriv, in its own PID namespace, and dies with the agent.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HIDDEN_TOP_LEVEL = frozenset(
    {
        "dev",
        "proc",
        "sys",
        "tmp",
        "root",
        "home",
        "work",
        "run",
        "mnt",
        "media",
        "lost+found",
        "old_root",
        "var",
        "srv",
        "boot",
    }
)


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool


@dataclass(frozen=True)
class SandboxSpec:
    argv: Sequence[str]
    image_paths: Sequence[Path]
    mounts: Sequence[Mount]
    termination_file: Path
    termination_path: str
    working_dir: str | None
    uid: int
    gid: int
    read_only_root: bool


@dataclass(frozen=True)
class RootEntry:
    """A top-level entry of the host root: a directory, or a symlink to recreate."""

    path: str
    link_target: str | None = None


def root_entries(root: Path = Path("/")) -> list[RootEntry]:
    """The host's system directories (and /bin-style symlinks) to expose."""
    entries: list[RootEntry] = []
    for entry in sorted(root.iterdir()):
        if entry.name in HIDDEN_TOP_LEVEL:
            continue
        if entry.is_symlink():
            entries.append(RootEntry(f"/{entry.name}", os.readlink(entry)))
        elif entry.is_dir():
            entries.append(RootEntry(f"/{entry.name}"))
    return entries


def _parents_to_create(targets: Sequence[str], exposed: set[str]) -> list[str]:
    """Ancestors of mount targets that exist only in the sandbox's root tmpfs."""
    parents: dict[str, None] = {}
    for target in targets:
        path = Path(target)
        if any(str(path).startswith(root + "/") or str(path) == root for root in exposed):
            continue
        for ancestor in reversed(path.parents):
            if str(ancestor) != "/":
                parents[str(ancestor)] = None
    return list(parents)


def bwrap_argv(spec: SandboxSpec, entries: Sequence[RootEntry]) -> list[str]:
    """Build the full argv: bwrap [setup] -- [setpriv] command args."""
    args = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    for entry in entries:
        if entry.link_target is None:
            args += ["--ro-bind", entry.path, entry.path]
        else:
            args += ["--symlink", entry.link_target, entry.path]
    args += ["--dev", "/dev", "--proc", "/proc", "--ro-bind", "/sys", "/sys"]
    args += ["--dir", "/tmp", "--dir", "/var/tmp"]
    exposed = {entry.path for entry in entries}
    targets = [str(p) for p in spec.image_paths] + [m.target for m in spec.mounts]
    for parent in _parents_to_create(targets, exposed):
        # bwrap would create these 0700; a non-root uid must be able to traverse them.
        args += ["--perms", "0755", "--dir", parent]
    # Volumes first, then the image: a volume at /tmp must not hide an image
    # that lives under /tmp on the host (a checkout in /tmp, as CI may use).
    for mount in spec.mounts:
        flag = "--ro-bind" if mount.read_only else "--bind"
        args += [flag, str(mount.source), mount.target]
    for path in spec.image_paths:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(spec.termination_file), spec.termination_path]
    if spec.read_only_root:
        args += ["--remount-ro", "/"]
    if spec.working_dir:
        args += ["--chdir", spec.working_dir]
    args.append("--")
    if spec.uid != 0:
        args += [
            "setpriv",
            f"--reuid={spec.uid}",
            f"--regid={spec.gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
    args += list(spec.argv)
    return args

"""The task's ledger: what earlier attempts of this task already did, so a retry does not redo it.

A retried task runs in a new pod with the same spec. Task pods hold no Redis or
Kubernetes credentials, so the one thing a new attempt shares with the old one
is the task's own directory on the artifacts volume (the Job mounts only that
directory, via subPath). There the ledger is a file of JSON lines
`[key, value]`: each line is appended with one write before the agent moves on
(which survives the pod's death) and fsynced (which survives the node's) at
once or, for per-recipient delivery records, in small groups; the last value
of a key wins on replay.

- A line cut short by a crash (no trailing newline) is cut off on the next open;
  a complete line that is not a record is skipped with a warning.
- Size is bounded: agents write a bounded number of records per unit of input
  (at most two per recipient), keys are short digests of user-supplied values,
  and the file is capped at MAX_LEDGER_BYTES (LedgerFull beyond it).
- One writer: an exclusive lock (flock on a sibling lock file) keeps a second
  pod of the same task (a partitioned node's zombie) from interleaving records.
- Confinement: files are opened relative to the task directory's descriptor
  with O_NOFOLLOW, so a symlink planted in the directory cannot redirect writes.

Whether the file outlives the pod depends on the volume: a PersistentVolumeClaim
does, an emptyDir does not (`persistent` says which; then a retry starts over).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

from devskyy_agents.errors import PermanentTaskError, RetryableTaskError

log = logging.getLogger(__name__)

LEDGER_FILE = "ledger.jsonl"
LOCK_FILE = "ledger.lock"
MAX_LEDGER_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 64 * 1024
MAX_KEY_CHARS = 128
GROUP_RECORDS = 32
GROUP_SECONDS = 0.25
ATTEMPT_KEY = "attempt"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


class LedgerUnavailable(RetryableTaskError):
    """The task directory cannot hold a ledger right now (volume error, another live attempt)."""


class LedgerFull(PermanentTaskError):
    """A record or the whole ledger would exceed its bound: a bug or forged input, not load."""


def digest_key(scope: str, *parts: str) -> str:
    """A short, fixed-size key for user-supplied values (addresses, channels, product refs)."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]
    return f"{scope}:{digest}"


def encode_record(key: str, value: Any) -> bytes:
    """One ledger line; LedgerFull when it would break the per-record bound."""
    if not key or len(key) > MAX_KEY_CHARS:
        raise LedgerFull(f"ledger key must be 1-{MAX_KEY_CHARS} characters")
    line = json.dumps([key, value], separators=(",", ":"), ensure_ascii=True).encode() + b"\n"
    if len(line) > MAX_RECORD_BYTES:
        raise LedgerFull(f"ledger record {key!r} is larger than {MAX_RECORD_BYTES} bytes")
    return line


def replay(data: bytes) -> tuple[dict[str, Any], int, int]:
    """(state, bytes of whole lines, skipped lines) of a ledger file's content.

    The bytes after the last newline are a torn write and are not counted.
    """
    state: dict[str, Any] = {}
    end = data.rfind(b"\n") + 1
    skipped = 0
    for line in data[:end].splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if isinstance(record, list) and len(record) == 2 and isinstance(record[0], str):
            state[record[0]] = record[1]
        else:
            skipped += 1
    return state, end, skipped


class Ledger:
    """Key -> last recorded value, durable per record; `attempt` counts the pods that opened it."""

    def __init__(
        self,
        state: dict[str, Any],
        *,
        persistent: bool = False,
        fd: int | None = None,
        lock_fd: int | None = None,
        size: int = 0,
    ) -> None:
        self._state = state
        self._fd = fd
        self._lock_fd = lock_fd
        self._size = size
        self._unsynced = 0
        self._synced_at = time.monotonic()
        self._mutex = threading.Lock()  # the email agent records from its SMTP thread
        self.persistent = persistent and fd is not None
        self.attempt = int(state.get(ATTEMPT_KEY, 0)) + 1
        self.record(ATTEMPT_KEY, self.attempt)

    @classmethod
    def in_memory(cls) -> Ledger:
        """A ledger that dies with the process (agents run outside a pod, in tests)."""
        return cls({})

    @classmethod
    def open(cls, task_dir: Path, *, persistent: bool) -> Ledger:
        """Open (creating) the ledger of the task whose directory is `task_dir`."""
        held: list[int] = []
        try:
            return cls._open(task_dir, persistent, held)
        except BaseException as exc:
            for fd in held:
                os.close(fd)
            if not isinstance(exc, OSError):
                raise
            if exc.errno == errno.ELOOP:
                raise LedgerUnavailable(
                    f"{task_dir} holds a symlink where the ledger goes"
                ) from None
            raise LedgerUnavailable(
                f"cannot open the ledger in {task_dir}: {exc.strerror}"
            ) from None

    @classmethod
    def _open(cls, task_dir: Path, persistent: bool, held: list[int]) -> Ledger:
        task_dir.mkdir(parents=True, exist_ok=True)
        dir_fd = os.open(task_dir, _DIR_FLAGS)
        try:
            held.append(os.open(LOCK_FILE, _FILE_FLAGS, 0o600, dir_fd=dir_fd))
            try:
                fcntl.flock(held[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LedgerUnavailable(
                    "another attempt of this task still holds its ledger"
                ) from None
            held.append(os.open(LEDGER_FILE, _FILE_FLAGS | os.O_APPEND, 0o600, dir_fd=dir_fd))
            fd = held[1]
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise LedgerUnavailable(f"{task_dir / LEDGER_FILE} is not a regular file")
            if info.st_size > MAX_LEDGER_BYTES:
                raise LedgerFull(
                    f"the ledger in {task_dir} is larger than {MAX_LEDGER_BYTES} bytes"
                )
            data = os.pread(fd, info.st_size, 0)
            state, end, skipped = replay(data)
            if skipped:
                log.warning("Ledger %s: skipped %d unreadable line(s)", task_dir, skipped)
            if end < len(data):
                log.warning("Ledger %s: dropped a record cut short by a crash", task_dir)
                os.ftruncate(fd, end)
                os.fsync(fd)
            os.fsync(dir_fd)  # the file's directory entry survives a node crash too
        finally:
            os.close(dir_fd)
        return cls(state, persistent=persistent, fd=fd, lock_fd=held[0], size=end)

    def get(self, key: str) -> Any:
        """The last value recorded for `key` (by any attempt), or None."""
        return self._state.get(key)

    def record(self, key: str, value: Any, *, sync: bool = True) -> None:
        """Append `key = value` with one write; fsync it now, or (sync=False) with the group.

        The write alone survives the pod's death (the page cache is the node's);
        fsync makes it survive the node's. Records of paid or unrepeatable
        effects sync at once; per-recipient delivery records sync in groups
        (every GROUP_RECORDS records or GROUP_SECONDS), so a node crash loses at
        most that many, and the retry resends those deliveries.
        """
        line = encode_record(key, value)
        with self._mutex:
            if self._fd is not None:
                if self._size + len(line) > MAX_LEDGER_BYTES:
                    raise LedgerFull(f"the task ledger would exceed {MAX_LEDGER_BYTES} bytes")
                try:
                    written = os.write(self._fd, line)
                    self._unsynced += 1
                    due = time.monotonic() - self._synced_at >= GROUP_SECONDS
                    if sync or due or self._unsynced >= GROUP_RECORDS:
                        self._sync()
                except OSError as exc:
                    raise LedgerUnavailable(f"cannot write the ledger: {exc.strerror}") from None
                if written != len(line):  # a full volume; the torn line is cut on the next open
                    raise LedgerUnavailable("the artifacts volume accepted only part of a record")
                self._size += written
            self._state[key] = value

    def _sync(self) -> None:
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
        self._unsynced = 0
        self._synced_at = time.monotonic()

    def flush(self) -> None:
        """fsync what the group has not synced yet (agents call it at the end of a batch)."""
        with self._mutex:
            try:
                self._sync()
            except OSError as exc:
                raise LedgerUnavailable(f"cannot write the ledger: {exc.strerror}") from None

    def close(self) -> None:
        with contextlib.suppress(LedgerUnavailable):  # the records are written; only a node
            self.flush()  # crash before writeback could lose them now
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock_fd = None

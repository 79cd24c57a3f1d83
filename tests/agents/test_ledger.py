"""The task ledger on a real filesystem: append, fsync, replay, bounds, torn tails, confinement."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devskyy_agents.ledger import (
    LEDGER_FILE,
    MAX_LEDGER_BYTES,
    MAX_RECORD_BYTES,
    Ledger,
    LedgerFull,
    LedgerUnavailable,
    digest_key,
    encode_record,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def reopen(task_dir: Path) -> Ledger:
    return Ledger.open(task_dir, persistent=True)


def test_records_survive_the_process_and_count_attempts(tmp_path: Path) -> None:
    task_dir = tmp_path / "task-1"
    first = reopen(task_dir)
    assert (first.attempt, first.persistent) == (1, True)
    first.record("email:a", "sending")
    first.record("email:a", "sent")
    first.record("tripo:task", "tripo-9")
    first.close()
    lines = (task_dir / LEDGER_FILE).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        ["attempt", 1],
        ["email:a", "sending"],
        ["email:a", "sent"],
        ["tripo:task", "tripo-9"],
    ]
    second = reopen(task_dir)
    assert second.attempt == 2
    assert second.get("email:a") == "sent"  # the last value of a key wins
    assert second.get("tripo:task") == "tripo-9"
    assert second.get("never") is None
    second.close()
    assert reopen(task_dir).attempt == 3


def test_grouped_records_survive_the_death_of_the_process(tmp_path: Path) -> None:
    """sync=False still writes at once: a SIGKILL right after record() loses nothing."""
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from devskyy_agents.ledger import Ledger\n"
        "ledger = Ledger.open(Path(sys.argv[1]), persistent=True)\n"
        "for n in range(5):\n"
        "    ledger.record(f'email:{n}', 'sent', sync=False)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "t")], check=False)
    assert proc.returncode == -9
    ledger = reopen(tmp_path / "t")
    assert [ledger.get(f"email:{n}") for n in range(5)] == ["sent"] * 5
    assert ledger.attempt == 2


def test_in_memory_and_emptydir_ledgers_do_not_claim_to_persist(tmp_path: Path) -> None:
    memory = Ledger.in_memory()
    memory.record("k", 1)
    assert (memory.get("k"), memory.attempt, memory.persistent) == (1, 1, False)
    on_disk = Ledger.open(tmp_path / "t", persistent=False)
    on_disk.record("k", 2)
    assert on_disk.persistent is False
    on_disk.close()
    assert reopen(tmp_path / "t").get("k") == 2


def test_a_torn_last_line_is_cut_and_later_records_append_cleanly(tmp_path: Path) -> None:
    task_dir = tmp_path / "t"
    ledger = reopen(task_dir)
    ledger.record("email:a", "sent")
    ledger.close()
    path = task_dir / LEDGER_FILE
    whole = path.read_bytes()
    with path.open("ab") as handle:  # a crash in the middle of a write
        handle.write(b'["email:b","se')
    ledger = reopen(task_dir)
    assert ledger.get("email:a") == "sent"
    assert ledger.get("email:b") is None
    assert path.read_bytes() == whole + encode_record("attempt", 2)
    ledger.record("email:b", "sent")
    ledger.close()
    assert reopen(task_dir).get("email:b") == "sent"


def test_an_unreadable_complete_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    task_dir = tmp_path / "t"
    task_dir.mkdir()
    (task_dir / LEDGER_FILE).write_bytes(b'["a",1]\n\x00\x00garbage\n{"not":"a record"}\n["b",2]\n')
    ledger = reopen(task_dir)
    assert (ledger.get("a"), ledger.get("b"), ledger.attempt) == (1, 2, 1)


def test_records_and_the_file_are_bounded(tmp_path: Path) -> None:
    ledger = reopen(tmp_path / "t")
    with pytest.raises(LedgerFull, match="larger than"):
        ledger.record("big", "x" * MAX_RECORD_BYTES)
    with pytest.raises(LedgerFull, match="key"):
        ledger.record("k" * 200, 1)
    chunk = "y" * (MAX_RECORD_BYTES - 100)
    line = len(encode_record("chunk:00", chunk))
    fits = (MAX_LEDGER_BYTES - len(encode_record("attempt", 1))) // line
    for n in range(fits):
        ledger.record(f"chunk:{n:02d}", chunk)
    with pytest.raises(LedgerFull, match="exceed"):
        ledger.record(f"chunk:{fits:02d}", chunk)
    path = tmp_path / "t" / LEDGER_FILE
    size = path.stat().st_size
    assert size == len(encode_record("attempt", 1)) + fits * line
    ledger.record("fill", "f" * (MAX_LEDGER_BYTES - size - len(encode_record("fill", ""))))
    ledger.close()
    assert path.stat().st_size == MAX_LEDGER_BYTES
    # A full ledger has no room for the next attempt's record: that is a clear failure.
    with pytest.raises(LedgerFull, match="exceed"):
        reopen(tmp_path / "t")
    with path.open("ab") as handle:  # grown past the cap behind our back
        handle.write(b"z" * MAX_LEDGER_BYTES)
    with pytest.raises(LedgerFull, match="larger than"):
        reopen(tmp_path / "t")


def test_one_attempt_at_a_time(tmp_path: Path) -> None:
    holder = reopen(tmp_path / "t")
    with pytest.raises(LedgerUnavailable, match="another attempt"):
        reopen(tmp_path / "t")
    holder.close()
    assert reopen(tmp_path / "t").attempt == 2


def test_symlinks_cannot_redirect_the_ledger(tmp_path: Path) -> None:
    other = tmp_path / "other-task"
    victim = reopen(other)
    victim.record("email:a", "sent")
    victim.close()
    before = (other / LEDGER_FILE).read_bytes()

    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / LEDGER_FILE).symlink_to(other / LEDGER_FILE)
    with pytest.raises(LedgerUnavailable, match="symlink"):
        reopen(planted)
    (tmp_path / "linked-dir").symlink_to(other, target_is_directory=True)
    with pytest.raises(LedgerUnavailable):
        reopen(tmp_path / "linked-dir")
    assert (other / LEDGER_FILE).read_bytes() == before


def test_unusable_directory_is_a_retryable_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    with pytest.raises(LedgerUnavailable) as caught:
        reopen(blocker)
    assert caught.value.retryable
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / LEDGER_FILE).mkdir()
    with pytest.raises(LedgerUnavailable):
        reopen(tmp_path / "t")


def test_files_are_private_to_the_task_user(tmp_path: Path) -> None:
    reopen(tmp_path / "t").close()
    assert os.stat(tmp_path / "t" / LEDGER_FILE).st_mode & 0o777 == 0o600


def test_digest_keys_are_stable_short_and_distinct() -> None:
    key = digest_key("email", "jane.doe@example.com")
    assert key == digest_key("email", "jane.doe@example.com")
    assert key.startswith("email:")
    assert len(key) == len("email:") + 32
    assert key != digest_key("email", "jane.doe@example.org")
    assert digest_key("social", "a", "b") != digest_key("social", "ab")

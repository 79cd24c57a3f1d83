"""The DLQ's log tail: masked while whole, then bounded by lines and bytes (pure)."""

from __future__ import annotations

import base64

import pytest

from devskyy_agents.logs import MASK
from devskyy_operator.deadletter.log_tail import (
    complete_lines,
    fetch_limit_bytes,
    masked_tail,
    secret_values_of,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]

SECRET = "tsk_live_0123456789abcdef"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secret_values_are_decoded_longest_first_and_short_or_binary_ones_skipped() -> None:
    secret = {"data": {"A": b64("abcd"), "B": b64(SECRET), "C": b64("ab"),
                       "D": base64.b64encode(b"\xff\xfe\x00").decode(), "E": "not base64!",
                       "F": b64("line-ended-value\n")}}  # fmt: skip
    assert secret_values_of(secret) == [SECRET, "line-ended-value\n", "line-ended-value", "abcd"]
    assert secret_values_of({}) == []


def test_secret_values_bearer_sk_keys_and_url_keys_are_masked() -> None:
    log = "\n".join([
        f"TRIPO_API_KEY={SECRET}",
        "curl -H 'Authorization: Bearer eyJhbGciOi.J9.abc' https://api.example",
        "token Bearer abc.DEF_123 in the middle",
        "openai said: invalid key sk-proj-AbCdEf0123456789xyz",
        "GET https://generativelanguage.example/v1/models?key=AIzaSyD-123456&alt=json",
        "GET https://x.example/a?api_key=k123456#frag and ?access_token=t0ken",
        "connecting to redis://:hunter22@redis:6379/0",
        "an ordinary line about a task-sk-like disk-usage value",
    ])  # fmt: skip
    tail = masked_tail(log, [SECRET], max_lines=50, max_bytes=8192)
    for leaked in (SECRET, "eyJhbGciOi", "abc.DEF_123", "AbCdEf0123456789xyz", "AIzaSyD",
                   "k123456", "t0ken", "hunter22"):  # fmt: skip
        assert leaked not in tail, leaked
    lines = tail.splitlines()
    assert lines[0] == f"TRIPO_API_KEY={MASK}"
    assert lines[2] == f"token Bearer {MASK} in the middle"
    assert lines[3] == f"openai said: invalid key {MASK}"
    assert lines[4].endswith(f"?key={MASK}&alt=json")
    assert lines[-1] == "an ordinary line about a task-sk-like disk-usage value"


def test_tail_keeps_the_newest_lines_within_both_bounds() -> None:
    log = "".join(f"line {i:03d}\n" for i in range(200))
    assert masked_tail(log, [], max_lines=3, max_bytes=8192) == "line 197\nline 198\nline 199"
    by_bytes = masked_tail(log, [], max_lines=50, max_bytes=20)
    assert by_bytes == "line 198\nline 199"
    assert len(by_bytes.encode()) <= 20
    assert masked_tail(log, [], max_lines=0, max_bytes=100) == ""
    assert masked_tail(log, [], max_lines=10, max_bytes=0) == ""


def test_a_line_longer_than_the_byte_bound_keeps_its_end_and_no_half_secret() -> None:
    line = "x" * 50 + SECRET + "y" * 10 + "é"
    tail = masked_tail(line, [SECRET], max_lines=5, max_bytes=16)
    assert len(tail.encode()) <= 16
    assert tail.endswith("y" * 10 + "é")
    assert "tsk_" not in tail
    # The cut happens after masking: the end of the secret cannot survive it.
    assert "cdef" not in masked_tail(line, [SECRET], max_lines=5, max_bytes=len(line))


def test_a_fetch_cut_at_its_limit_drops_the_cut_line() -> None:
    limit = fetch_limit_bytes(10)
    assert limit >= 40
    raw = b"first line\nsecond line\nthird li"
    assert complete_lines(raw, len(raw)) == "first line\nsecond line\n"
    assert complete_lines(raw, len(raw) + 1) == raw.decode()
    assert complete_lines(b"no newline at all", 17) == ""
    assert complete_lines(b"bad \xff byte\n", 100) == "bad \ufffd byte\n"

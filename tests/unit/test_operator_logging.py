"""The operator's log: kopf's per-event success lines are off unless debugging."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from devskyy_operator.controller.main import KOPF_OBJECT_LOGGER, quiet_kopf_successes

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


@pytest.fixture
def loggers() -> Iterator[tuple[logging.Logger, logging.Logger]]:
    root, kopf_objects = logging.getLogger(), logging.getLogger(KOPF_OBJECT_LOGGER)
    saved = root.level, kopf_objects.level
    kopf_objects.setLevel(logging.NOTSET)
    yield root, kopf_objects
    root.setLevel(saved[0])
    kopf_objects.setLevel(saved[1])


@pytest.mark.parametrize(
    ("level", "successes_logged"),
    [(logging.DEBUG, True), (logging.INFO, False), (logging.WARNING, False)],
)
def test_kopf_logs_handler_successes_only_at_debug_and_failures_always(
    loggers: tuple[logging.Logger, logging.Logger], level: int, successes_logged: bool
) -> None:
    root, kopf_objects = loggers
    root.setLevel(level)
    quiet_kopf_successes()
    assert kopf_objects.isEnabledFor(logging.INFO) is successes_logged
    assert kopf_objects.isEnabledFor(logging.ERROR)

"""`devskyy schedules` end to end: the console script, a real API process and Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import RunCli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "schedules" / "nightly-diagnostic.yaml"
MINE = """
apiVersion: devskyy.io/v1alpha1
kind: DevSkyySchedule
metadata: {name: hourly-check}
spec:
  schedule: "@hourly"
  template: {spec: {type: diagnostic, input: {user_id: alice}}}
"""


def test_create_list_suspend_resume_delete(devskyy: RunCli) -> None:
    created = devskyy("schedules", "create", "-f", "-", stdin=MINE)
    assert created.returncode == 0, created.stderr
    assert "hourly-check" in created.stdout
    assert devskyy("schedules", "create", "-f", "-", stdin=MINE).returncode == 1  # 409

    assert devskyy("schedules", "create", "-f", str(EXAMPLE)).returncode == 1  # ops's, 403
    by_ops = devskyy("schedules", "create", "-f", str(EXAMPLE), user="ops")
    assert by_ops.returncode == 0, by_ops.stderr

    listed = devskyy("schedules", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0][:5] == ["NAME", "USER_ID", "SCHEDULE", "TIME_ZONE", "SUSPEND"]
    assert [r[0] for r in rows[1:]] == ["hourly-check"]  # alice does not see ops's

    assert devskyy("schedules", "suspend", "hourly-check").returncode == 0
    shown = json.loads(devskyy("--json", "schedules", "get", "hourly-check").stdout)
    assert shown["spec"]["suspend"] is True
    assert devskyy("schedules", "resume", "hourly-check").returncode == 0
    shown = json.loads(devskyy("--json", "schedules", "get", "hourly-check").stdout)
    assert shown["spec"]["suspend"] is False
    text = devskyy("schedules", "get", "hourly-check").stdout
    assert "@hourly" in text

    deleted = devskyy("schedules", "delete", "hourly-check")
    assert deleted.returncode == 0, deleted.stderr
    assert "hourly-check: deleted" in deleted.stdout
    missing = devskyy("schedules", "get", "hourly-check")
    assert missing.returncode == 1
    assert "HTTP 404" in missing.stderr


def test_a_bad_cron_names_the_field(devskyy: RunCli) -> None:
    bad = MINE.replace('"@hourly"', '"0 25 * * *"')
    refused = devskyy("schedules", "create", "-f", "-", stdin=bad)
    assert refused.returncode == 1
    assert "spec.schedule" in refused.stderr
    assert "hour" in refused.stderr

"""The seed's environment table, each variable set and its effect observed.

REDIS_URL / DATABASE_URL are read under the seed's names (ours are aliases) and
drive real components in tests/history/test_seed_names.py; here: the names, and
what TASK_TIMEOUT, WORKER_PROCESSES and WORKER_THREADS mean for a Job per task.
"""

from __future__ import annotations

import pytest

from devskyy_agents.entrypoint import native_thread_pools
from devskyy_operator.admission.limits import limit_problems
from devskyy_operator.admission.policy import admit
from devskyy_operator.job.builder import build_job
from devskyy_operator.settings import Settings
from tests.unit.factories import T0, view

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


def test_seed_url_names_win_over_our_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSKYY_REDIS_URL", "redis://ours:6379/0")
    assert Settings().redis_url.get_secret_value() == "redis://ours:6379/0"
    monkeypatch.setenv("REDIS_URL", "redis://seed:6379/0")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/devskyy")
    settings = Settings()
    assert settings.redis_url.get_secret_value() == "redis://seed:6379/0"
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql://u:p@db:5432/devskyy"
    assert "p@db" not in repr(settings)


def test_task_timeout_caps_every_jobs_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """TASK_TIMEOUT: the longest any task runs; shorter type defaults stay."""
    assert (
        build_job(view("t-0", "generate_3d"), Settings(), T0)["spec"]["activeDeadlineSeconds"]
        == 600
    )
    monkeypatch.setenv("TASK_TIMEOUT", "120")
    settings = Settings()
    assert settings.task_timeout_seconds == 120
    for task, expected in (
        (view("t-1", "generate_3d"), 120),  # type default 600
        (view("t-2", "ml_prediction"), 60),  # type default 60, below the cap
        (view("t-3", "diagnostic", timeoutSeconds=900), 120),  # kubectl asked for more
        (view("t-4", "diagnostic", timeoutSeconds=30), 30),
    ):
        job = build_job(task, settings, T0)
        assert job["spec"]["activeDeadlineSeconds"] == expected, task.name
        env = {
            e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert int(env["DEVSKYY_TASK_DEADLINE"]) == int(T0.timestamp()) + expected + 15
    # Asking for more is refused at every door (API 422, operator InvalidSpec), by field.
    (problem,) = limit_problems(view("t-5", "diagnostic", timeoutSeconds=900).spec, settings, T0)
    assert problem == ("timeoutSeconds", "at most 120 s here (TASK_TIMEOUT)")
    assert limit_problems(view("t-6", "generate_3d").spec, settings, T0) == []


def test_worker_processes_is_the_per_type_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    """WORKER_PROCESSES: tasks of one type running at once (types not set on their own)."""
    assert Settings().concurrency["diagnostic"] == 10
    monkeypatch.setenv("WORKER_PROCESSES", "3")
    monkeypatch.setenv("DEVSKYY_CONCURRENCY__ML_PREDICTION", "1")
    limits = Settings().concurrency
    assert limits["diagnostic"] == limits["generate_3d"] == 3
    assert limits["ml_training"] == 2  # its own default
    assert limits["ml_prediction"] == 1  # named explicitly
    waiting = [view(f"d-{i}", "diagnostic", phase="Queued") for i in range(5)]
    waiting += [view(f"p-{i}", "ml_prediction", phase="Queued") for i in range(3)]
    chosen = admit(waiting, {"diagnostic": 1}, limits, T0)
    assert [t.task_type.value for t in chosen].count("diagnostic") == 2  # 3 - 1 running
    assert [t.task_type.value for t in chosen].count("ml_prediction") == 1


def test_worker_threads_size_the_task_pods_thread_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    """WORKER_THREADS: threads inside a task (the pod's thread pools, n_jobs)."""
    monkeypatch.setenv("WORKER_THREADS", "3")
    job = build_job(view("t-1", "ml_training"), Settings(), T0)
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WORKER_THREADS"] == "3"
    # ... and the entrypoint starts the native pools at that size.
    pools = native_thread_pools(env)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert pools[name] == "3", name
    # A pool the image or the user sized stays as set; no usable WORKER_THREADS, no sizes.
    assert "OMP_NUM_THREADS" not in native_thread_pools({**env, "OMP_NUM_THREADS": "1"})
    assert native_thread_pools({"WORKER_THREADS": "0"}) == {}
    assert native_thread_pools({"WORKER_THREADS": "x"}) == {}

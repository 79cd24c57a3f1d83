"""Attempts of one task, as the Job runs them: `devskyy-task` again on the same task directory.

Each run is the real console script in a fresh process with a persistent
artifacts directory (what a PVC gives a pod), so what the second run knows it
read from the first run's ledger. The e2e tests do the same with real Job retries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devskyy_agents.ledger import LEDGER_FILE
from devskyy_agents.marketing.email import message_id
from tests.agents import ml_data
from tests.agents.conftest import run_task, wordpress_env
from tests.providers.base import RETRY_NOW, Reply, Request, serving
from tests.providers.openai_server import OpenAIServer
from tests.providers.smtp_server import Mailbox, smtp_server
from tests.providers.tripo_server import TripoServer
from tests.providers.wordpress_server import WordPressServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PERSISTENT = {"DEVSKYY_ARTIFACTS_PERSISTENT": "true", "DEVSKYY_TASK_RETRIES": "2"}


def diagnostic(**input_: object) -> dict[str, object]:
    return {"type": "diagnostic", "input": {"user_id": "user-1", **input_}}


def test_fail_attempts_fails_the_first_n_attempts_then_succeeds(tmp_path: Path) -> None:
    spec = diagnostic(fail_attempts=2, result={"ok": True})
    runs = [run_task(tmp_path, spec, **PERSISTENT) for _ in range(3)]
    assert [r.code for r in runs] == [75, 75, 0]
    assert runs[0].message["error_type"] == "RetryableTaskError"
    assert "attempt 1 of the first 2" in runs[0].message["error"]
    assert "attempt 2 of the first 2" in runs[1].message["error"]
    assert runs[2].message["result"] == {"ok": True}
    assert "Attempt 3 of task task-abc123" in runs[2].stderr


def test_fail_attempts_without_a_persistent_volume_says_so(tmp_path: Path) -> None:
    run = run_task(tmp_path, diagnostic(fail_attempts=1))
    assert run.code == 42
    assert run.message["error_type"] == "InvalidTaskInput"
    assert "persistent artifacts volume" in run.message["error"]


def test_the_ledger_lives_in_the_task_directory_only(tmp_path: Path) -> None:
    assert run_task(tmp_path, diagnostic(), task_id="task-a", **PERSISTENT).code == 0
    assert run_task(tmp_path, diagnostic(), task_id="task-b", **PERSISTENT).code == 0
    artifacts = tmp_path / "artifacts"
    assert sorted(p.relative_to(artifacts).as_posix() for p in artifacts.rglob(LEDGER_FILE)) == [
        f"task-a/{LEDGER_FILE}",
        f"task-b/{LEDGER_FILE}",
    ]


# ----------------------------------------------------------------- email


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with serving(OpenAIServer()) as server:
        yield server


def test_email_retries_skip_delivered_recipients(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    recipients = [f"r{n}@example.com" for n in range(1, 6)]
    mailbox = Mailbox(refuse={"r5@example.com"})
    mailbox.lose_after["r2@example.com"] = 1  # delivered, unconfirmed: in doubt
    mailbox.lose_before["r4@example.com"] = 1  # not delivered
    spec = {
        "type": "marketing_campaign",
        "input": {
            "user_id": "user-1", "campaign_id": "drop", "campaign_type": "email",
            "recipients": recipients, "content": {"topic": "launch"},
        },
    }  # fmt: skip
    with smtp_server(mailbox) as (host, port):
        env = {
            "OPENAI_API_KEY": openai_server.api_key,
            "OPENAI_BASE_URL": f"{openai_server.url}/v1",
            "OPENAI_MAX_RETRIES": "0",
            "SMTP_HOST": host,
            "SMTP_PORT": str(port),
            "SMTP_FROM": "shop@skyyrose.example",
            "SMTP_STARTTLS": "false",
            **PERSISTENT,
        }
        runs = [run_task(tmp_path, spec, **env) for _ in range(3)]
    assert [r.code for r in runs] == [75, 75, 0], [r.message for r in runs]
    assert "with 1 of 5 recipients sent" in runs[0].message["error"]
    assert "with 3 of 5 recipients sent" in runs[1].message["error"]
    result = runs[2].message["result"]
    assert (result["sent_count"], result["failed_count"]) == (4, 1)
    counts = {r: len(mailbox.received(r)) for r in recipients}
    assert counts == {
        "r1@example.com": 1,
        "r2@example.com": 2,  # the one in doubt, sent again by attempt 2 ...
        "r3@example.com": 1,
        "r4@example.com": 1,
        "r5@example.com": 0,
    }
    twice = mailbox.received("r2@example.com")
    assert twice[0]["Message-ID"] == twice[1]["Message-ID"]  # ... with the same Message-ID
    assert twice[0]["Message-ID"] == message_id("drop", "r2@example.com", "shop@skyyrose.example")
    assert twice[0].get_payload() == twice[1].get_payload()  # the same copy: OpenAI once
    assert len(openai_server.requests) == 1
    ids = {m["Message-ID"] for m in mailbox.messages}
    assert len(ids) == 4


def test_without_a_persistent_volume_a_broken_session_reports_what_went_out(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    """The emptyDir fallback: a retry would start over, so mail is not risked twice."""
    mailbox = Mailbox()
    mailbox.lose_before["r2@example.com"] = 1
    spec = {
        "type": "marketing_campaign",
        "input": {
            "user_id": "user-1", "campaign_id": "drop", "campaign_type": "email",
            "recipients": ["r1@example.com", "r2@example.com", "r3@example.com"],
            "content": {"topic": "launch"},
        },
    }  # fmt: skip
    with smtp_server(mailbox) as (host, port):
        run = run_task(
            tmp_path,
            spec,
            OPENAI_API_KEY=openai_server.api_key,
            OPENAI_BASE_URL=f"{openai_server.url}/v1",
            SMTP_HOST=host,
            SMTP_PORT=str(port),
            SMTP_FROM="shop@skyyrose.example",
            SMTP_STARTTLS="false",
            DEVSKYY_TASK_RETRIES="2",  # retries left, but no persistent ledger
        )
    assert run.code == 0, run.message
    assert (run.message["result"]["sent_count"], run.message["result"]["failed_count"]) == (1, 2)
    assert [m["To"] for m in mailbox.messages] == ["r1@example.com"]


# ----------------------------------------------------------------- generate_3d


SPEC_3D = {
    "type": "generate_3d",
    "input": {"user_id": "user-1", "prompt": "rose hoodie", "product_name": "Rose Runner"},
}


def test_a_retry_polls_the_recorded_tripo_task(tmp_path: Path) -> None:
    with serving(TripoServer()) as tripo:
        env = {"TRIPO_API_KEY": tripo.api_key, "TRIPO_API_BASE": tripo.url, **PERSISTENT}
        # Three garbled status reads in a row end the attempt (each after its own retries).
        tripo.fail_next("status", 503, times=15, path_prefix="/task/", headers=RETRY_NOW)
        first = run_task(tmp_path, SPEC_3D, **env)
        second = run_task(tmp_path, SPEC_3D, **env)
    assert first.code == 75, first.message
    assert second.code == 0, second.stderr
    creates = [r for r in tripo.requests if r.method == "POST" and r.path == "/task"]
    assert len(creates) == 1
    assert second.message["result"]["task_id"] == "tripo-1"
    assert "was started by an earlier attempt: polling it" in second.stderr


class LossyShop(WordPressServer):
    """The first media upload and the first product create happen, but their answers are lost;
    after that product create, WooCommerce lookups fail long enough to end the attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.lost: set[str] = {"product", "media"}

    def route(self, request: Request) -> Reply:
        reply = super().route(request)
        if request.method == "POST" and reply.status == 201:
            what = "product" if "/wc/v3/" in request.path else "media"
            if what in self.lost:
                self.lost.discard(what)
                if what == "product":
                    self.fail_next("status", 503, times=5, method="GET", headers=RETRY_NOW)
                return Reply.dropped()
        return reply


def test_publishing_creates_each_product_and_media_item_once(tmp_path: Path) -> None:
    with serving(TripoServer()) as tripo, serving(LossyShop()) as shop:
        env = {
            "TRIPO_API_KEY": tripo.api_key,
            "TRIPO_API_BASE": tripo.url,
            **wordpress_env(shop),
            **PERSISTENT,
        }
        first = run_task(tmp_path, SPEC_3D, **env)
        second = run_task(tmp_path, SPEC_3D, **env)
    assert second.code == 0, second.stderr
    assert first.code == 75, first.message
    assert shop.created_products == [200]  # once, though its first answer was lost
    created = shop.products[200]
    assert (created["sku"], created["status"], created["name"]) == (
        "devskyy-task-abc123", "draft", "Rose Runner",
    )  # fmt: skip
    assert sorted(m["slug"] for m in shop.media.values()) == [
        "devskyy-task-abc123-model",
        "devskyy-task-abc123-preview",
    ]
    media_ids = second.message["result"]["wordpress_media_ids"]
    assert created["images"] == [{"id": media_ids[0]}]
    assert shop.updates[200] == 1


# ----------------------------------------------------------------- ml_training


def test_a_retry_after_the_model_was_stored_does_not_train_again(tmp_path: Path) -> None:
    ml_data.write(tmp_path / "datasets", "iris.csv", ml_data.iris())
    spec = {
        "type": "ml_training",
        "input": {
            "user_id": "u-1",
            "model_id": "customer_segmentation",
            "training_data_path": "iris.csv",
        },
    }
    blocker = tmp_path / "models" / "customer_segmentation" / "latest"
    blocker.mkdir(parents=True)  # the pointer cannot be written: the attempt fails after storing
    first = run_task(tmp_path, spec, task_id="train-1", **PERSISTENT)
    blocker.rmdir()
    second = run_task(tmp_path, spec, task_id="train-1", **PERSISTENT)
    assert first.code == 75, first.message
    assert second.code == 0, second.stderr
    versions = [
        p.name for p in (tmp_path / "models" / "customer_segmentation").iterdir() if p.is_dir()
    ]
    assert len(versions) == 1, "trained once"
    assert second.message["result"]["model_version"] == versions[0]
    assert blocker.read_text() == versions[0]
    assert "was trained by an earlier attempt" in second.stderr
    ledger = (tmp_path / "artifacts" / "train-1" / LEDGER_FILE).read_text().splitlines()
    assert sum(1 for line in ledger if json.loads(line)[0] == "ml:model") == 1

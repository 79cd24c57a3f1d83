"""Task type -> agent, and the context every agent runs in.

Agents receive everything from outside through `RunContext` (time budget,
environment-derived config, volumes, HTTP clients), so tests run the real agent
against loopback servers by handing in a different context. Agent modules are
imported lazily: a 3D task never imports scikit-learn, an ML task never openai.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from devskyy_agents import task_env
from devskyy_agents.errors import InvalidTaskInput, MissingCredentials
from devskyy_agents.ledger import Ledger
from devskyy_agents.models import OutputBase, TaskInput, TaskType
from devskyy_agents.usage import UsageMeter

if TYPE_CHECKING:
    import httpx


def worker_threads(env: Mapping[str, str]) -> int | None:
    """WORKER_THREADS as a positive count, or None when unset or unusable."""
    value = env.get(task_env.WORKER_THREADS, "").strip()
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        return None
    return int(value)


@dataclass
class RunContext:
    """What an agent may use: deadline (epoch s), config (env), volumes, clients, the ledger."""

    config: Mapping[str, str]
    deadline: float | None = None
    artifacts_dir: Path = Path(task_env.ARTIFACTS_PATH)
    datasets_dir: Path = Path(task_env.DATASETS_PATH)
    models_dir: Path = Path(task_env.MODELS_PATH)
    # What earlier attempts of this task did (ledger.py); `retries` is the Job's backoffLimit.
    ledger: Ledger = field(default_factory=Ledger.in_memory)
    retries: int | None = None
    # The SSRF-guarded client for user-supplied URLs, created on first use: most
    # task types never fetch a user URL, and httpx + a TLS context cost ~0.2 s.
    _user_http: httpx.AsyncClient | None = field(default=None, repr=False)
    _usage: UsageMeter | None = field(default=None, repr=False)

    @property
    def usage(self) -> UsageMeter:
        """Provider usage of this task (usage.py): paid calls report here, kept in the ledger."""
        if self._usage is None:
            self._usage = UsageMeter(self.ledger)
        return self._usage

    @property
    def user_http(self) -> httpx.AsyncClient:
        if self._user_http is None:
            from devskyy_agents.http import guarded_client

            self._user_http = guarded_client()
        return self._user_http

    @user_http.setter
    def user_http(self, client: httpx.AsyncClient) -> None:
        self._user_http = client

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], deadline: float | None, ledger: Ledger | None = None
    ) -> RunContext:
        retries = env.get(task_env.TASK_RETRIES, "").strip()
        if retries and not retries.isdigit():
            raise InvalidTaskInput(f"{task_env.TASK_RETRIES} must be a non-negative integer")
        return cls(
            config=dict(env),
            deadline=deadline,
            artifacts_dir=Path(env.get(task_env.ARTIFACTS_DIR, task_env.ARTIFACTS_PATH)),
            datasets_dir=Path(env.get(task_env.DATASETS_DIR, task_env.DATASETS_PATH)),
            models_dir=Path(env.get(task_env.MODELS_DIR, task_env.MODELS_PATH)),
            ledger=ledger or Ledger.in_memory(),
            retries=int(retries) if retries else None,
        )

    @property
    def threads(self) -> int:
        """Threads this task may use: WORKER_THREADS, which the Job sets (1 outside a Job)."""
        return worker_threads(self.config) or 1

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None without one."""
        return None if self.deadline is None else self.deadline - time.time()

    @property
    def plain_http_hosts(self) -> tuple[str, ...]:
        """PLAIN_HTTP_HOSTS: hosts whose operator-configured URLs may be plain http."""
        raw = self.config.get("PLAIN_HTTP_HOSTS", "")
        return tuple(h.strip() for h in raw.split(",") if h.strip())

    @property
    def attempt(self) -> int:
        """1 for the first pod of this task, 2 for the first retry, ... (from the ledger)."""
        return self.ledger.attempt

    def retry_left(self) -> bool:
        """Whether the Job will run another attempt if this one fails (as far as we know).

        Without a persistent ledger every pod is attempt 1, so this says yes;
        evicted pods count as attempts here but not for the Job, so it errs towards no.
        """
        return self.retries is not None and self.attempt <= self.retries

    def retry_continues(self) -> bool:
        """Whether failing now is retried by an attempt that continues where this one stopped."""
        return self.ledger.persistent and self.retry_left()

    def require(self, name: str, purpose: str) -> str:
        """A config value that must be set, else a permanent MissingCredentials."""
        value = self.config.get(name, "").strip()
        if not value:
            raise MissingCredentials(f"{name} is not set; it is required for {purpose}")
        return value

    async def aclose(self) -> None:
        if self._user_http is not None:
            await self._user_http.aclose()
        self.ledger.close()


class Agent(Protocol):
    """Runs one task; raises a TaskError subclass to fail it."""

    async def run(self, task_id: str, task_input: TaskInput, ctx: RunContext) -> OutputBase: ...


# type -> "module:Class"; a class with a no-argument constructor satisfying Agent.
AGENTS: dict[TaskType, str] = {
    TaskType.GENERATE_3D: "devskyy_agents.tripo:TripoAssetAgent",
    TaskType.FASHN_TRYON: "devskyy_agents.fashn:FashnTryonAgent",
    TaskType.MARKETING_CAMPAIGN: "devskyy_agents.marketing.agent:MarketingAgent",
    TaskType.ML_TRAINING: "devskyy_agents.ml.module:MLCapabilitiesModule",
    TaskType.ML_PREDICTION: "devskyy_agents.ml.module:MLCapabilitiesModule",
    TaskType.DIAGNOSTIC: "devskyy_agents.diagnostic:DiagnosticAgent",
}


def agent_for(task_type: TaskType) -> Agent:
    """Import and build the agent of a task type."""
    module_name, _, class_name = AGENTS[task_type].partition(":")
    agent_class = getattr(importlib.import_module(module_name), class_name)
    agent: Agent = agent_class()
    return agent

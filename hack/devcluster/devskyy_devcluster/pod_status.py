"""Pod status documents as a kubelet reports them: pure builders.

The Job controller reads exactly these fields (phase, containerStatuses[].state
.terminated.exitCode, conditions), so they must be truthful.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

TERMINATION_MESSAGE_LIMIT = 4096

ContainerPhase = Literal["waiting", "running", "terminated"]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerState:
    name: str
    image: str
    phase: ContainerPhase = "waiting"
    reason: str = "ContainerCreating"
    message: str | None = None
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    restart_count: int = 0
    ready: bool = False
    container_id: str = ""
    last_terminated: dict[str, Any] | None = field(default=None)

    def terminated_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "exitCode": self.exit_code if self.exit_code is not None else 0,
            "reason": self.reason,
            "containerID": self.container_id,
        }
        if self.message:
            doc["message"] = self.message
        if self.started_at:
            doc["startedAt"] = rfc3339(self.started_at)
        if self.finished_at:
            doc["finishedAt"] = rfc3339(self.finished_at)
        return doc

    def to_status(self) -> dict[str, Any]:
        if self.phase == "running":
            state: dict[str, Any] = {"running": {"startedAt": rfc3339(self.started_at or _now())}}
        elif self.phase == "terminated":
            state = {"terminated": self.terminated_doc()}
        else:
            waiting: dict[str, Any] = {"reason": self.reason}
            if self.message:
                waiting["message"] = self.message
            state = {"waiting": waiting}
        doc: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": f"local://{self.image}",
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.phase == "running",
            "state": state,
        }
        if self.container_id:
            doc["containerID"] = self.container_id
        if self.last_terminated:
            doc["lastState"] = {"terminated": self.last_terminated}
        return doc


def _now() -> datetime:
    return datetime.now(UTC)


def _condition(kind: str, ok: bool, now: datetime, reason: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": rfc3339(now),
    }
    if reason and not ok:
        doc["reason"] = reason
    return doc


def pod_phase(containers: list[ContainerState], restart_policy: str) -> str:
    """Pending until something runs; terminal only when every container ended."""
    if all(c.phase == "terminated" for c in containers):
        if restart_policy == "Always":
            return "Running"
        return "Succeeded" if all(c.exit_code == 0 for c in containers) else "Failed"
    if any(c.phase in ("running", "terminated") for c in containers):
        return "Running"
    return "Pending"


def build_pod_status(
    containers: list[ContainerState],
    init_containers: list[ContainerState],
    restart_policy: str,
    started_at: datetime,
    now: datetime,
    phase_override: str | None = None,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """The full `status` of a pod."""
    phase = phase_override or pod_phase(containers, restart_policy)
    initialized = all(c.phase == "terminated" and c.exit_code == 0 for c in init_containers)
    ready = phase == "Running" and all(c.ready for c in containers)
    terminal = phase in ("Succeeded", "Failed")
    status: dict[str, Any] = {
        "phase": phase,
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": "127.0.0.1",
        "podIPs": [{"ip": "127.0.0.1"}],
        "startTime": rfc3339(started_at),
        "conditions": [
            _condition("PodReadyToStartContainers", not terminal, now),
            _condition("Initialized", initialized, now, "ContainersNotInitialized"),
            _condition("ContainersReady", ready, now, "ContainersNotReady"),
            _condition("Ready", ready, now, "ContainersNotReady"),
            _condition("PodScheduled", True, now),
        ],
        "containerStatuses": [c.to_status() for c in containers],
    }
    if init_containers:
        status["initContainerStatuses"] = [c.to_status() for c in init_containers]
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return status


def read_termination_message(path: Path | None, fallback_log: str | None) -> str | None:
    """At most 4096 bytes of the termination file, or of the log tail on error."""
    text = ""
    if path is not None and path.exists():
        text = path.read_bytes()[:TERMINATION_MESSAGE_LIMIT].decode(errors="replace")
    if not text.strip() and fallback_log:
        text = fallback_log.encode()[-2048:].decode(errors="replace")
    return text or None

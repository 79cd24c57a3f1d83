"""A DevSkyyTask custom resource as the pure modules see it: parsed once, typed, frozen.

Handlers get raw kopf bodies; everything below them (admission, job_builder,
outcome) works on a TaskView, so the spec is validated by the same pydantic model
that the API and the task pod use, and a bad spec fails in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from devskyy_agents.models import TaskSpec, TaskType, parse_spec
from devskyy_operator import keys


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (or epoch seconds) as an aware UTC datetime; None if unusable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    elif isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class TaskIdentity(Protocol):
    """What a status patch or an event needs to know about its task."""

    @property
    def name(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def uid(self) -> str: ...
    @property
    def generation(self) -> int: ...
    @property
    def resource_version(self) -> str: ...


@dataclass(frozen=True)
class TaskRef:
    """A task's identity, readable even when its spec breaks the models."""

    name: str
    namespace: str
    uid: str
    generation: int
    resource_version: str = ""


def task_ref_from_body(body: Mapping[str, Any]) -> TaskRef:
    metadata: Mapping[str, Any] = body.get("metadata") or {}
    return TaskRef(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        uid=str(metadata.get("uid", "")),
        generation=int(metadata.get("generation") or 0),
        resource_version=str(metadata.get("resourceVersion") or ""),
    )


@dataclass(frozen=True)
class TaskView:
    """The parts of a DevSkyyTask the operator decides on."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: TaskSpec
    created_at: datetime
    phase: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    status: Mapping[str, Any] = field(default_factory=dict)
    resource_version: str = ""  # precondition for status writes made from this view

    @property
    def task_type(self) -> TaskType:
        return self.spec.type

    @property
    def user_id(self) -> str:
        return self.spec.user_id

    @property
    def tier(self) -> str:
        """The user tier the bridge labelled the task with; "" when untiered (kubectl)."""
        return self.labels.get(keys.LABEL_TIER, "")

    @property
    def queued_at(self) -> datetime:
        """When the task entered the system: the bridge's enqueue time, else creation.

        creationTimestamp has one-second resolution, so FIFO inside a priority
        uses the finer enqueue annotation when the bridge set one.
        """
        enqueued = parse_time(self.annotations.get(keys.ANNOTATION_ENQUEUED_AT))
        return enqueued or self.created_at


def task_view_from_body(body: Mapping[str, Any]) -> TaskView:
    """Parse a CR body; raises pydantic.ValidationError when the spec breaks the models."""
    metadata: Mapping[str, Any] = body.get("metadata") or {}
    raw_spec = body.get("spec") or {}
    spec = parse_spec(dict(raw_spec))
    status: Mapping[str, Any] = body.get("status") or {}
    created = parse_time(metadata.get("creationTimestamp")) or datetime.fromtimestamp(0, UTC)
    phase = status.get("phase")
    return TaskView(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        uid=str(metadata.get("uid", "")),
        generation=int(metadata.get("generation") or 0),
        spec=spec,
        created_at=created,
        phase=phase if isinstance(phase, str) else None,
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
        status=dict(status),
        resource_version=str(metadata.get("resourceVersion") or ""),
    )

"""A DevSkyyTask custom resource as the pure modules see it: parsed once, typed, frozen.

Handlers get raw kopf bodies; everything below them (admission, job_builder,
outcome) works on a TaskView, so the spec is validated by the same pydantic model
that the API and the task pod use, and a bad spec fails in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from devskyy_agents.models import TaskSpec, TaskType, parse_spec_json
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


@dataclass(frozen=True, slots=True)
class TaskView:
    """The parts of a DevSkyyTask the operator decides on.

    The operator keeps one per live task (`controller.index`), so it holds only
    what a reader needs, compactly: the spec as its validated JSON text (the
    model is built when `spec` is first read; admission reads the cached
    `task_type`, `priority` and `not_before` instead), the status as JSON text
    (decoded on each read: only decisions read it, not admission rounds), the
    one label and two annotations read, and shared strings for the values many
    tasks repeat. A Queued task's view went from 4.4 KB to about 1 KB this way
    (bench/bench_task_index.py).
    """

    name: str
    namespace: str
    uid: str
    generation: int
    spec_json: str  # the spec as validated (`parse_spec_json` gives the model back)
    task_type: TaskType
    priority: int
    created_at: datetime
    phase: str | None
    tier: str = ""  # the user tier the bridge labelled the task with; "" when untiered
    source: str = ""  # the `devskyy.io/source` annotation ("api": the bridge); "" if absent
    enqueued_at: datetime | None = None  # the bridge's enqueue time (finer than creation)
    not_before: datetime | None = None  # the earliest start (`TaskSpec.scheduled_for`)
    status_json: str = ""  # `status` as compact JSON; "" when it has none
    resource_version: str = ""  # precondition for status writes made from this view
    _spec: TaskSpec | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def spec(self) -> TaskSpec:
        """The spec model, built from `spec_json` on first use (then kept with the view)."""
        spec = self._spec
        if spec is None:
            spec = parse_spec_json(self.spec_json)
            object.__setattr__(self, "_spec", spec)
        return spec

    @property
    def status(self) -> dict[str, Any]:
        """The status as read (a fresh dict each time: callers may change it freely)."""
        return json.loads(self.status_json) if self.status_json else {}

    @property
    def user_id(self) -> str:
        return self.spec.user_id

    @property
    def queued_at(self) -> datetime:
        """When the task entered the system: the bridge's enqueue time, else creation.

        creationTimestamp has one-second resolution, so FIFO inside a priority
        uses the finer enqueue annotation when the bridge set one.
        """
        return self.enqueued_at or self.created_at

    def without_model(self) -> TaskView:
        """The same view without its built spec model (rebuilt when read): what the
        index keeps of a task whose spec nobody reads while it waits."""
        return self if self._spec is None else replace(self)


def task_view(
    spec: TaskSpec, *, name: str, namespace: str = "", uid: str = "", generation: int = 0,
    created_at: datetime, phase: str | None = None, tier: str = "", source: str = "",
    enqueued_at: datetime | None = None, status: Mapping[str, Any] | None = None,
    resource_version: str = "", spec_json: str | None = None,
) -> TaskView:  # fmt: skip
    """A view of `spec` (its JSON text: `spec_json` when the caller validated that text)."""
    view = TaskView(
        spec_json=spec_json if spec_json is not None else spec_json_of(spec),
        task_type=spec.type, priority=spec.priority, not_before=spec.scheduled_for(),
        **_resource_fields(
            name=name, namespace=namespace, uid=uid, generation=generation,
            created_at=created_at, phase=phase, tier=tier, source=source,
            enqueued_at=enqueued_at, status=status, resource_version=resource_version,
        ),
    )  # fmt: skip
    object.__setattr__(view, "_spec", spec)  # built already: kept until `without_model`
    return view


def _resource_fields(
    *, name: str, namespace: str, uid: str, generation: int, created_at: datetime,
    phase: str | None, tier: str, source: str, enqueued_at: datetime | None,
    status: Mapping[str, Any] | None, resource_version: str,
) -> dict[str, Any]:  # fmt: skip
    """A view's fields that come from the resource, not from its spec, as a view
    keeps them: the values many tasks repeat shared, the status as compact JSON."""
    return {
        "name": name, "namespace": shared(namespace), "uid": uid, "generation": generation,
        "created_at": created_at, "phase": shared(phase) if phase is not None else None,
        "tier": shared(tier), "source": shared(source), "enqueued_at": enqueued_at,
        "status_json": json.dumps(status, separators=(",", ":")) if status else "",
        "resource_version": resource_version,
    }  # fmt: skip


def spec_json_of(spec: TaskSpec) -> str:
    return spec.model_dump_json(by_alias=True, exclude_none=True)


def shared(value: str) -> str:
    """One string object for a value many tasks repeat (a namespace, a tier, a phase).

    A bounded table of our own, not `sys.intern`: the values come from the API."""
    if len(_SHARED) >= _SHARED_MAX:
        return _SHARED.get(value, value)
    return _SHARED.setdefault(value, value)


_SHARED: dict[str, str] = {}
_SHARED_MAX = 4096


def task_view_from_body(body: Mapping[str, Any], known: TaskView | None = None) -> TaskView:
    """Parse a CR body; raises pydantic.ValidationError when the spec breaks the models.

    `known`: a view of the same task read earlier. When the spec text is the one
    it validated (same uid), the spec is not validated again: a task's later
    versions (status writes, label changes) differ only outside the spec, and
    validation was most of the cost of each of them."""
    metadata: Mapping[str, Any] = body.get("metadata") or {}
    text = json.dumps(body.get("spec") or {}, separators=(",", ":"))
    status: Mapping[str, Any] = body.get("status") or {}
    labels: Mapping[str, Any] = metadata.get("labels") or {}
    annotations: Mapping[str, Any] = metadata.get("annotations") or {}
    created = parse_time(metadata.get("creationTimestamp")) or datetime.fromtimestamp(0, UTC)
    phase = status.get("phase")
    fields: dict[str, Any] = {
        "name": str(metadata.get("name", "")), "namespace": str(metadata.get("namespace", "")),
        "uid": str(metadata.get("uid", "")), "generation": int(metadata.get("generation") or 0),
        "created_at": created, "phase": phase if isinstance(phase, str) else None,
        "tier": str(labels.get(keys.LABEL_TIER) or ""),
        "source": str(annotations.get(keys.ANNOTATION_SOURCE) or ""),
        "enqueued_at": parse_time(annotations.get(keys.ANNOTATION_ENQUEUED_AT)),
        "status": status, "resource_version": str(metadata.get("resourceVersion") or ""),
    }  # fmt: skip
    if known is not None and known.uid == fields["uid"] and known.spec_json == text:
        view = replace(known, **_resource_fields(**fields))
        object.__setattr__(view, "_spec", known._spec)  # the model, if it was built
        return view
    return task_view(parse_spec_json(text), spec_json=text, **fields)

"""Workflows in Redis: the API's submissions and cancels, the operator's status copy.

The API holds no Kubernetes credentials, so, as for task cancels, it records
what it wants: a submitted workflow (its hash with the validated spec, and its
name in `keys.WORKFLOW_CREATES`) or a cancel (`keys.WORKFLOW_CANCELS`); the
bridge carries both out on the DevSkyyWorkflow resource. The operator, the
only writer of outcomes, copies the workflow's status into the hash, which is
what `GET /v1/workflows/<name>` reads. One script per change, so a crash
leaves a workflow either submitted in full or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from devskyy_operator import keys
from devskyy_operator.redisq.scripts import LuaScript, Redis

_SUBMIT = LuaScript(
    "submit_workflow",
    """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'user_id', ARGV[2], 'spec', ARGV[3],
           'submitted_at', ARGV[4], 'phase', 'Pending')
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
""",
)


@dataclass(frozen=True)
class WorkflowRecord:
    name: str
    user_id: str
    spec: dict[str, Any]
    phase: str
    submitted_at: float
    status: dict[str, Any] | None

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> WorkflowRecord:
        status = raw.get("status")
        return cls(
            name=raw["name"],
            user_id=raw["user_id"],
            spec=json.loads(raw["spec"]),
            phase=raw.get("phase", "Pending"),
            submitted_at=float(raw.get("submitted_at", 0)),
            status=json.loads(status) if status else None,
        )


async def submit_workflow(
    client: Redis, name: str, user_id: str, spec: dict[str, Any], now: float
) -> bool:
    """Record a validated workflow for the bridge to create; False when the name is taken."""
    created = await _SUBMIT(
        client,
        [keys.workflow_key(name), keys.user_workflows_key(user_id), keys.WORKFLOW_CREATES],
        [name, user_id, json.dumps(spec, separators=(",", ":")), now],
    )
    return bool(created)


async def get_workflow(client: Redis, name: str) -> WorkflowRecord | None:
    raw: dict[str, str] = await client.hgetall(keys.workflow_key(name))
    return WorkflowRecord.from_hash(raw) if raw.get("spec") else None


async def list_user_workflows(client: Redis, user_id: str, limit: int) -> list[WorkflowRecord]:
    """The user's workflows, newest first."""
    names: list[str] = await client.zrevrange(keys.user_workflows_key(user_id), 0, limit - 1)
    found = [await get_workflow(client, name) for name in names]
    return [record for record in found if record is not None]


async def request_workflow_cancel(client: Redis, name: str) -> None:
    await client.sadd(keys.WORKFLOW_CANCELS, name)


async def pending_workflow_creates(client: Redis) -> set[str]:
    found: set[str] = await client.smembers(keys.WORKFLOW_CREATES)
    return found


async def pending_workflow_cancels(client: Redis) -> set[str]:
    found: set[str] = await client.smembers(keys.WORKFLOW_CANCELS)
    return found


async def forget_workflow_create(client: Redis, name: str) -> None:
    await client.srem(keys.WORKFLOW_CREATES, name)


async def forget_workflow_cancel(client: Redis, name: str) -> None:
    await client.srem(keys.WORKFLOW_CANCELS, name)


async def record_workflow_status(
    client: Redis,
    name: str,
    user_id: str,
    spec: dict[str, Any],
    status: dict[str, Any],
    now: float,
    *,
    finished_ttl_seconds: int | None = None,
) -> None:
    """The operator's copy of a workflow's status (also of one created with kubectl).

    `finished_ttl_seconds`: a finished workflow's hash expires as a finished task's
    does; the user's index drops names older than that."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.hsetnx(keys.workflow_key(name), "submitted_at", now)
        pipe.hset(
            keys.workflow_key(name),
            mapping={
                "name": name,
                "user_id": user_id,
                "spec": json.dumps(spec, separators=(",", ":")),
                "phase": str(status.get("phase", "")),
                "status": json.dumps(status, separators=(",", ":")),
            },
        )
        pipe.zadd(keys.user_workflows_key(user_id), {name: now}, nx=True)
        if finished_ttl_seconds is not None:
            pipe.expire(keys.workflow_key(name), finished_ttl_seconds)
            pipe.zremrangebyscore(
                keys.user_workflows_key(user_id), "-inf", now - finished_ttl_seconds
            )
        await pipe.execute()

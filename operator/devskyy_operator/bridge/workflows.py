"""Workflows submitted or cancelled through the API, carried out on the resources.

The API records them in Redis (`redisq.workflows`); each bridge cycle creates
the DevSkyyWorkflow of every submitted one (409: already created, by an earlier
cycle whose answer was lost, which is success) and sets `spec.cancel` on every
one whose cancel was asked. A request is forgotten only once carried out, so a
crash in between repeats it, harmlessly. The operator does the rest.
"""

from __future__ import annotations

import logging
from typing import Any

from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import ApiError, Conflict, Invalid, NotFound
from devskyy_operator.redisq import workflows as store
from devskyy_operator.redisq.scripts import Redis

log = logging.getLogger("devskyy.bridge")
MAX_PER_CYCLE = 100


def workflow_resource(record: store.WorkflowRecord) -> dict[str, Any]:
    return {
        "apiVersion": keys.API_VERSION,
        "kind": keys.WORKFLOW_KIND,
        "metadata": {
            "name": record.name,
            "labels": {keys.LABEL_USER: record.user_id},
            "annotations": {keys.ANNOTATION_SOURCE: "api"},
        },
        "spec": record.spec,
    }


async def execute_workflow_requests(redis: Redis, kube: KubeClient, namespace: str) -> int:
    """Create submitted workflows, then cancel the asked ones; how many were carried out."""
    path = resource_path(keys.API_VERSION, keys.WORKFLOW_PLURAL, namespace)
    done = 0
    for name in sorted(await store.pending_workflow_creates(redis))[:MAX_PER_CYCLE]:
        record = await store.get_workflow(redis, name)
        if record is not None:
            try:
                await kube.create(path, workflow_resource(record))
                log.info("workflow %s created for user %s", name, record.user_id)
            except Conflict:
                pass  # created before (or a kubectl workflow took the name: its status shows)
            except Invalid as exc:  # validated by the API: only a CRD older than the API
                log.error("workflow %s refused by the apiserver: %s", name, exc)
            except ApiError as exc:  # no workflow CRD, no RBAC: kept for a later cycle
                log.error("workflow %s not created (kept for the next cycle): %s", name, exc)
                break
        await store.forget_workflow_create(redis, name)
        done += 1
    for name in sorted(await store.pending_workflow_cancels(redis))[:MAX_PER_CYCLE]:
        try:
            await kube.patch(f"{path}/{name}", {"spec": {"cancel": True}})
            log.info("workflow %s cancelled by user", name)
        except NotFound:
            pass  # gone: nothing left to stop
        except ApiError as exc:
            log.error("workflow %s not cancelled (kept for the next cycle): %s", name, exc)
            break
        await store.forget_workflow_cancel(redis, name)
        done += 1
    return done

"""Container requests and limits of a task: the task's own values over the type defaults.

A task may raise a request above the default limit without naming a limit; the
apiserver would then reject the Job (request > limit), so the limit is lifted to
the request; an explicit limit below the request caps the request instead.
"""

from __future__ import annotations

from devskyy_agents.models import ResourceAmounts, TaskSpec
from devskyy_operator.quantity import parse_quantity
from devskyy_operator.settings import RESOURCE_KINDS, ResourceDefaults

__all__ = ["container_resources", "parse_quantity"]


def _pick(amounts: ResourceAmounts | None, attribute: str) -> str | None:
    value = getattr(amounts, attribute, None) if amounts is not None else None
    return value if isinstance(value, str) else None


def container_resources(spec: TaskSpec, defaults: ResourceDefaults) -> dict[str, dict[str, str]]:
    """`resources` of the task container: cpu, memory and ephemeral-storage, always all six."""
    wanted = spec.resources
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    for name, attribute, prefix in RESOURCE_KINDS:
        own_request = _pick(wanted.requests if wanted else None, attribute)
        own_limit = _pick(wanted.limits if wanted else None, attribute)
        request = own_request or str(getattr(defaults, f"{prefix}_request"))
        limit = own_limit or str(getattr(defaults, f"{prefix}_limit"))
        request_value, limit_value = parse_quantity(request), parse_quantity(limit)
        if request_value is not None and limit_value is not None and request_value > limit_value:
            if own_limit is None:
                limit = request  # the task asked for more than the default allows
            else:
                request = limit  # an explicit limit wins: the Job must stay valid
        requests[name] = request
        limits[name] = limit
    return {"requests": requests, "limits": limits}

"""Container requests and limits of a task: the task's own values over the type defaults.

A task may raise a request above the default limit without naming a limit; the
apiserver would then reject the Job (request > limit), so the limit is lifted to
the request; an explicit limit below the request caps the request instead.
Only the quantity forms the models and settings use are parsed.
"""

from __future__ import annotations

import re
from decimal import Decimal

from devskyy_agents.models import ResourceAmounts, TaskSpec
from devskyy_operator.settings import ResourceDefaults

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}
# (Kubernetes resource name, ResourceAmounts attribute, ResourceDefaults prefix)
_KINDS = (
    ("cpu", "cpu", "cpu"),
    ("memory", "memory", "memory"),
    ("ephemeral-storage", "ephemeral_storage", "ephemeral"),
)


def parse_quantity(text: str) -> Decimal | None:
    """The value of a simple Kubernetes quantity, or None for forms not handled here."""
    match = _QUANTITY.match(text.strip())
    if match is None:
        return None
    return Decimal(match.group(1)) * _FACTORS[match.group(2)]


def _pick(amounts: ResourceAmounts | None, attribute: str) -> str | None:
    value = getattr(amounts, attribute, None) if amounts is not None else None
    return value if isinstance(value, str) else None


def container_resources(spec: TaskSpec, defaults: ResourceDefaults) -> dict[str, dict[str, str]]:
    """`resources` of the task container: cpu, memory and ephemeral-storage, always all six."""
    wanted = spec.resources
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    for name, attribute, prefix in _KINDS:
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

"""Whether a task is served from (and stored in) the result cache, and for how long.

Pure. The task's `spec.cache` wins over its type's setting; a type with side
effects is cached only when its setting allows it (`admission.limits` refuses
the opt-in otherwise, naming the field, at the API and in the operator).
"""

from __future__ import annotations

from dataclasses import dataclass

from devskyy_agents.models import SIDE_EFFECT_TYPES, TaskSpec
from devskyy_operator.settings import Settings


@dataclass(frozen=True)
class CachePolicy:
    """A cacheable task: a stored result at most `ttl_seconds` old serves it, and its
    own result is stored for `ttl_seconds`."""

    ttl_seconds: int


def side_effects_refused(spec: TaskSpec, settings: Settings) -> bool:
    """The task opts in, but its type has side effects its setting does not allow caching."""
    opted_in = spec.cache is not None and spec.cache.enabled
    allowed = settings.result_cache_for(spec.type).allow_side_effects
    return opted_in and spec.type in SIDE_EFFECT_TYPES and not allowed


def cache_policy(spec: TaskSpec, settings: Settings) -> CachePolicy | None:
    """The task's caching, or None: it always runs."""
    configured = settings.result_cache_for(spec.type)
    if spec.cache is None:
        return CachePolicy(configured.ttl_seconds) if configured.enabled else None
    if not spec.cache.enabled or side_effects_refused(spec, settings):
        return None
    ttl = spec.cache.ttl_seconds or configured.ttl_seconds
    return CachePolicy(min(ttl, configured.max_ttl_seconds))

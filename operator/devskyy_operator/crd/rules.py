"""CEL validation rules of the CRD, generated from the task models.

The apiserver refuses a bad task at `kubectl apply` with a message naming the
field, before the operator sees it. These mirror the models and
`devskyy_agents.safety`; where CEL cannot say as much (DNS rebinding, email
syntax), the operator's model check still marks the task InvalidSpec.
Library functions used (Kubernetes CEL): `url`, `isURL`, strings `trim`,
`matches`, lists `sum`, `quantity` with `isGreaterThan`. Every string they read
has a maxLength, which is what keeps the apiserver's cost estimate in bounds. A
`date-time` field is a timestamp in CEL and a field without a type (input_data)
is invisible to it: the model checks those.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from devskyy_agents import models, safety
from devskyy_operator.settings import RESOURCE_KINDS, ResourceDefaults, Settings

Rule = dict[str, str | bool]
_VALIDATIONS = "x-kubernetes-validations"


def on_create(rule: Mapping[str, str | bool]) -> Rule:
    """`rule`, checked when its value is created and skipped on every later update.

    Only for a value that never changes once created (the name, or anything under
    an immutable parent, whose own `self == oldSelf` stays unwrapped): with
    `optionalOldSelf` the apiserver evaluates the rule on create too, `oldSelf`
    absent, so the rule runs; on an update `oldSelf` has a value and `||` stops
    before the rule's own cost. It also keeps an object created under a looser
    rule writable (its status) after the CRD tightens: a rule reading `oldSelf`
    is not ratcheted by the apiserver, so the guard must hold on every update.
    """
    return {**rule, "rule": f"oldSelf.hasValue() || ({rule['rule']})", "optionalOldSelf": True}


def on_create_below(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an immutable schema subtree with each of its rules wrapped by `on_create`.

    The apiserver refuses `oldSelf` below an atomic list's items (nothing to
    correlate the old item with): such a subtree must keep its rules unwrapped.
    """
    out = dict(schema)
    if _VALIDATIONS in out:
        out[_VALIDATIONS] = [on_create(r) for r in out[_VALIDATIONS]]
    if "properties" in out:
        out["properties"] = {k: on_create_below(v) for k, v in out["properties"].items()}
    if "items" in out:
        out["items"] = on_create_below(out["items"])
    return out


SPEC_IMMUTABLE: Rule = {
    "rule": "self == oldSelf",
    "message": "spec is immutable; delete and re-create the task",
}

NAME_RULE: Rule = {
    "rule": f"self.metadata.name.matches('{models.TASK_ID_PATTERN}')",
    "message": (
        "metadata.name must be a task id: lowercase letters, digits and '-', "
        "at most 52 characters, starting and ending alphanumeric"
    ),
}

REGION_RULE: Rule = {
    "rule": f"self.matches('{models.REGION_PATTERN}')",
    "message": (
        "spec.region must be a region name: lowercase letters, digits and '-', "
        "at most 63 characters, starting and ending alphanumeric"
    ),
}

# The apiserver estimates a rule's cost from the declared maxLength of what it reads;
# url(self).getHostname() has no declared bound, so host checks are regexes over
# `self` (bounded by maxLength) anchored at the https:// prefix the first rule demands.
_AUTHORITY_END = "\\\\.?([:/?#]|$)"
_INTERNAL_NAMES = "|".join(sorted(h.replace(".", "\\\\.") for h in safety.BLOCKED_HOSTS))
_INTERNAL_SUFFIXES = "|".join(sorted({s.rsplit(".", 1)[-1] for s in safety.BLOCKED_HOST_SUFFIXES}))

URL_RULES: tuple[Rule, ...] = (
    {
        "rule": "isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname() != ''",
        "message": "must be an absolute https:// URL",
    },
    {
        "rule": "!self.matches('^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@')",
        "message": "must not carry credentials (user@host)",
    },
    {
        "rule": "!isURL(self) || url(self).getPort() in ['', '443', '8443']",
        "message": "port must be 443 or 8443",
    },
    {
        "rule": (
            f"!self.matches('(?i)^https://(({_INTERNAL_NAMES})|[^/?#:]*\\\\.({_INTERNAL_SUFFIXES}))"
            f"{_AUTHORITY_END}')"
        ),
        "message": "host must not be internal (localhost, metadata, kubernetes, "
        "*.local, *.internal, *.localhost, *.svc)",
    },
    {
        "rule": (
            "!self.matches('(?i)^https://((0x[0-9a-f]*|[0-9]+)(\\\\.(0x[0-9a-f]*|[0-9]+))*"
            f"{_AUTHORITY_END}|\\\\[)')"
        ),
        "message": "host must be a DNS name, not an IP address (private ranges and "
        "encoded forms such as 2130706433 or 0x7f.1 are how SSRF gets in)",
    },
)

PATH_RULES: tuple[Rule, ...] = (
    {
        "rule": "!self.startsWith('/') && !self.startsWith('~')",
        "message": "must be relative to the datasets volume",
    },
    {
        "rule": "!self.matches('(^|/)\\\\.\\\\.(/|$)')",
        "message": "must not contain a '..' segment",
    },
    {
        "rule": "!self.contains('\\\\') && !self.contains('\\u0000')",
        "message": "must not contain a backslash or NUL",
    },
    {
        "rule": "!self.contains('%')",
        "message": "must not contain '%' (percent-encoding such as %2e%2e)",
    },
)


def _carries(annotation: Any, check: Callable[..., Any]) -> bool:
    """True when an (Annotated/Optional) field type runs `check` as an AfterValidator."""
    for meta in getattr(annotation, "__metadata__", ()):
        if getattr(meta, "func", None) is check:
            return True
    return any(_carries(arg, check) for arg in typing.get_args(annotation))


def fields_with(check: Callable[..., Any]) -> list[str]:
    """Input field names (across all task types) validated by `check`."""
    names: dict[str, None] = {}
    for model in models.INPUT_MODELS.values():
        hints = typing.get_type_hints(model, include_extras=True)
        for name, info in model.model_fields.items():
            if _carries(hints.get(name), check):
                names[info.alias or name] = None
    return list(names)


def field_rules() -> dict[str, tuple[Rule, ...]]:
    """Rules attached to individual `spec.input` properties."""
    rules: dict[str, tuple[Rule, ...]] = {}
    for name in fields_with(safety.check_public_https_url):
        rules[name] = URL_RULES
    for name in fields_with(safety.check_relative_path):
        rules[name] = PATH_RULES
    return rules


def _input_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def type_rules(all_fields: list[str]) -> list[Rule]:
    """Per task type: its required input fields present, other types' fields absent."""
    rules: list[Rule] = []
    for task_type, model in models.INPUT_MODELS.items():
        own = _input_names(model)
        required = [
            info.alias or name
            for name, info in model.model_fields.items()
            if info.is_required() and name != "user_id" and (info.alias or name) in all_fields
        ]
        foreign = [f for f in all_fields if f not in own]
        guard = f"self.type != '{task_type.value}'"
        if required:
            present = " && ".join(f"has(self.input.{f})" for f in required)
            rules.append(
                {
                    "rule": f"{guard} || ({present})",
                    "message": f"type {task_type.value} requires input fields: "
                    + ", ".join(required),
                }
            )
        if foreign:
            absent = " && ".join(f"!has(self.input.{f})" for f in foreign)
            rules.append(
                {
                    "rule": f"{guard} || ({absent})",
                    "message": f"type {task_type.value} allows only input fields: "
                    + ", ".join(own),
                }
            )
    rules.append(
        {
            "rule": "self.type != 'generate_3d' || has(self.input.image_url) || "
            "(has(self.input.prompt) && self.input.prompt.trim() != '')",
            "message": "type generate_3d requires input.prompt or input.image_url",
        }
    )
    return rules


# The model's TaskCache check: a TTL only for a cache that is on (enabled defaults to true).
CACHE_RULES: tuple[Rule, ...] = (
    {
        "rule": "!has(self.ttlSeconds) || !has(self.enabled) || self.enabled",
        "message": "ttlSeconds applies only when enabled is true",
        "fieldPath": ".ttlSeconds",
    },
)


# ------------------------------------------------------------------ input size


# Whole-input size is beyond CEL: free-form objects (content, hyperparameters,
# input_data, result) are invisible to it. What it can see it bounds: a list of
# strings whose items alone can exceed the limit gets a rule on the sum of their
# sizes, a lower bound of their serialized size (each item costs its characters,
# two quotes and a comma), so the apiserver never refuses what the models accept.
def size_rules(input_properties: Mapping[str, Any]) -> dict[str, tuple[Rule, ...]]:
    rules: dict[str, tuple[Rule, ...]] = {}
    for name, prop in input_properties.items():
        items = prop.get("items") or {}
        if prop.get("type") != "array" or items.get("type") != "string":
            continue
        worst = int(prop.get("maxItems", 0)) * (int(items.get("maxLength", 0)) + 3)
        if worst <= models.MAX_INPUT_BYTES:
            continue
        rules[name] = (
            {
                "rule": f"self.map(item, size(item) + 3).sum() <= {models.MAX_INPUT_BYTES}",
                "message": f"makes the input larger than {models.MAX_INPUT_BYTES} bytes "
                "serialized, the limit of every task input",
            },
        )
    return rules


# ------------------------------------------------------------------ resource maxima


def default_maxima() -> dict[str, ResourceDefaults]:
    """The settings' built-in per-type resources (not the environment): what the
    committed CRD is generated from."""
    configured = Settings.model_fields["resources"].get_default(call_default_factory=True)
    return {t.value: configured.get(t.value, ResourceDefaults()) for t in models.TaskType}


def maxima_table(kind: str, prefix: str, resources: Mapping[str, ResourceDefaults]) -> str:
    """A CEL map literal "<kind>/<type>" -> maximum, written as compact JSON with
    sorted keys: exactly what Helm's toJson makes of the same map, which is how the
    chart puts its values' maxima into the CRD (templates/crds.yaml)."""
    table = {f"{kind}/{t}": str(getattr(r, f"{prefix}_max")) for t, r in resources.items()}
    return json.dumps(table, sort_keys=True, separators=(",", ":"))


def resource_rules(resources: Mapping[str, ResourceDefaults]) -> list[Rule]:
    """Per request and limit: at most the maximum of the task's type (CEL quantities).

    Double-quoted CEL strings only, so the tables stay verbatim in the YAML file.
    """
    rules: list[Rule] = []
    for part in ("requests", "limits"):
        for kind, attribute, prefix in RESOURCE_KINDS:
            field = models.ResourceAmounts.model_fields[attribute].alias or attribute
            path = f"self.resources.{part}.{field}"
            maximum = f'{maxima_table(kind, prefix, resources)}["{kind}/" + self.type]'
            rules.append(
                {
                    "rule": f"!has(self.resources) || !has(self.resources.{part}) || "
                    f"!has({path}) || !quantity({path}).isGreaterThan(quantity({maximum}))",
                    "messageExpression": f'"must be at most " + {maximum} + " for type " '
                    "+ self.type",
                    "message": "must not exceed the maximum of the task type",
                    "fieldPath": f".resources.{part}.{field}",
                }
            )
    return rules

"""CEL validation rules of the CRD, generated from the task models.

The apiserver refuses a bad task at `kubectl apply` with a message naming the
field, before the operator sees it. These mirror the models and
`devskyy_agents.safety`; where CEL cannot say as much (DNS rebinding, email
syntax), the operator's model check still marks the task InvalidSpec.
Library functions used (Kubernetes CEL): `url`, `isURL`, strings `trim`,
`matches`. Every string they read has a maxLength, which is what keeps the
apiserver's cost estimate in bounds. A `date-time` field is a timestamp in CEL
and a field without a type (input_data) is invisible to it: the model checks those.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from devskyy_agents import models, safety

Rule = dict[str, str]

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

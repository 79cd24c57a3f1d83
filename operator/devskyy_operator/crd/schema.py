"""Pydantic JSON Schema -> Kubernetes structural OpenAPI v3 schema.

The CRD is generated from the same models the API and task pods validate with,
so the three doors cannot drift. Structural rules (apiextensions.k8s.io/v1):
every node has a type unless it preserves unknown fields; no $ref, anyOf of
types, additionalProperties with properties, or nullable leftovers. Optional
fields become optional properties without `nullable`, so an explicit null is
pruned by the apiserver and the model sees the field absent (its default).
Defaults are never copied: a type's defaults would land in every other type's
input; the models apply them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

PRESERVE = "x-kubernetes-preserve-unknown-fields"
_COPIED = (
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
)
_FORMATS = frozenset({"date-time", "int64"})


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """Inline a $ref, keeping the referring node's own keys (description wins)."""
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is None:
        return node
    target = _resolve(defs[ref.rsplit("/", 1)[-1]], defs)
    return {**target, **node}


def _preserve(description: str | None, *, object_type: bool) -> dict[str, Any]:
    out: dict[str, Any] = {PRESERVE: True}
    if object_type:
        out["type"] = "object"
    if description:
        out["description"] = description
    return out


def structural(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """Convert one JSON Schema node (with its $defs) to a structural schema node."""
    node = _resolve(node, defs)
    description = node.get("description")
    if "anyOf" in node:
        options = [_resolve(o, defs) for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            return structural({**options[0], "description": description}, defs)
        # Several shapes (e.g. object-or-list): only preserve-unknown without a type fits.
        return _preserve(description, object_type=False)
    if "const" in node:
        node = {**node, "enum": [node["const"]]}
    kind = node.get("type")
    if kind is None:  # JsonValue / Any
        return _preserve(description, object_type=False)
    out: dict[str, Any] = {"type": kind}
    if kind == "object":
        properties = node.get("properties")
        if properties:
            out["properties"] = {k: structural(v, defs) for k, v in properties.items()}
            required = [k for k in node.get("required", ()) if k in properties]
            if required:
                out["required"] = required
        else:  # dict[str, JsonValue]: free-form object
            out[PRESERVE] = True
    elif kind == "array":
        out["items"] = structural(node.get("items", {}), defs)
        if out["items"].get(PRESERVE) and "type" not in out["items"]:
            out["items"]["type"] = "object"
    for key in _COPIED:
        if key in node:
            out[key] = node[key]
    for strict, loose in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(strict), int | float) and not isinstance(node.get(strict), bool):
            out[loose] = node[strict]
            out[strict] = True
    if node.get("format") in _FORMATS:
        out["format"] = node["format"]
    if description:
        out["description"] = description
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural schema of a pydantic model (aliases as field names)."""
    raw = model.model_json_schema(by_alias=True)
    return structural(raw, raw.get("$defs", {}))


def widen(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One schema that admits the values of both (a field shared by two task types).

    The per-type CEL rules and the models still enforce the narrower one.
    """
    if first == second:
        return dict(first)
    if first.get("type") != second.get("type") or first.get(PRESERVE) or second.get(PRESERVE):
        return {PRESERVE: True}
    out: dict[str, Any] = {"type": first["type"]}
    if "enum" in first and "enum" in second:
        out["enum"] = list(dict.fromkeys([*first["enum"], *second["enum"]]))
    for key, pick in (
        ("minimum", min),
        ("minLength", min),
        ("minItems", min),
        ("maximum", max),
        ("maxLength", max),
        ("maxItems", max),
        ("maxProperties", max),
    ):
        if key in first and key in second:
            out[key] = pick(first[key], second[key])
    for key in ("pattern", "format", "items", "properties"):
        if key in first and first.get(key) == second.get(key):
            out[key] = first[key]
    return out

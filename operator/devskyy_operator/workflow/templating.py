"""Step output references in a later step's input: `{{ steps.<step>.outputs.<path> }}`.

A small strict language, pure (no I/O): the only expression is a reference to
a field of a finished step's outputs, with `.`-separated keys and list indices
(`{{ steps.asset.outputs.wordpress_media_ids.0 }}`). A string that is exactly
one reference becomes the referenced value with its JSON type (a list stays a
list, a number a number); a reference inside a longer string must name a
scalar, which is written in as text (numbers and booleans as JSON writes them).
Anything inside `{{ }}` that starts with `steps` but is not a reference is an
error, never passed on; other `{{ ... }}` (e.g. a mail template's own
placeholders) are left as written. Only values are substituted, never keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_BRACES = re.compile(r"\{\{\s*(?P<expr>.*?)\s*\}\}", re.DOTALL)
_REFERENCE = re.compile(
    r"steps\.(?P<step>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.outputs(?P<path>(\.[A-Za-z0-9_-]+)+)"
)


class TemplateError(ValueError):
    """A reference that is malformed or names what does not exist."""


@dataclass(frozen=True)
class Reference:
    step: str
    path: tuple[str, ...]
    text: str  # as written, e.g. "{{ steps.asset.outputs.model_url }}"


def _is_reference_expr(expr: str) -> bool:
    return expr == "steps" or expr.startswith("steps.") or expr.startswith("steps ")


def references_in(text: str) -> list[Reference]:
    """The references of one string; TemplateError for a malformed one."""
    found: list[Reference] = []
    for match in _BRACES.finditer(text):
        expr = match.group("expr")
        if not _is_reference_expr(expr):
            continue
        parsed = _REFERENCE.fullmatch(expr)
        if parsed is None:
            raise TemplateError(
                f"{match.group(0)!r} is not a reference; write "
                "{{ steps.<step>.outputs.<field> }}"
            )
        path = tuple(parsed.group("path").split(".")[1:])
        found.append(Reference(parsed.group("step"), path, match.group(0)))
    return found


def references(value: Any) -> list[Reference]:
    """Every reference in a JSON value (strings inside objects and lists)."""
    if isinstance(value, str):
        return references_in(value)
    if isinstance(value, Mapping):
        return [ref for item in value.values() for ref in references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    return []


def has_reference(value: Any) -> bool:
    try:
        return bool(references(value))
    except TemplateError:
        return True


def resolve(ref: Reference, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """The value a reference names in `outputs` (step -> that step's outputs)."""
    if ref.step not in outputs:
        raise TemplateError(f"{ref.text}: step {ref.step!r} has no outputs (not finished)")
    node: Any = outputs[ref.step]
    walked = f"steps.{ref.step}.outputs"
    for segment in ref.path:
        if isinstance(node, Mapping):
            if segment not in node:
                known = ", ".join(sorted(node)) or "none"
                raise TemplateError(
                    f"{ref.text}: {walked} has no field {segment!r} (it has: {known})"
                )
            node = node[segment]
        elif isinstance(node, list):
            if not segment.isdigit() or int(segment) >= len(node):
                raise TemplateError(
                    f"{ref.text}: {walked} is a list of {len(node)}; {segment!r} is no index in it"
                )
            node = node[int(segment)]
        else:
            raise TemplateError(f"{ref.text}: {walked} is a {type(node).__name__}, not an object")
        walked = f"{walked}.{segment}"
    return node


def _as_text(ref: Reference, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise TemplateError(
        f"{ref.text} names a {type(value).__name__}; only a string, number or boolean "
        "can be written into text (use the reference as the whole value instead)"
    )


def render_text(text: str, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    refs = references_in(text)
    if not refs:
        return text
    if len(refs) == 1 and text == refs[0].text:
        return resolve(refs[0], outputs)
    by_text = {ref.text: ref for ref in refs}

    def substitute(match: re.Match[str]) -> str:
        ref = by_text.get(match.group(0))
        return match.group(0) if ref is None else _as_text(ref, resolve(ref, outputs))

    # One pass over the original text: a substituted value is never read as a template.
    return _BRACES.sub(substitute, text)


def render(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """`value` with every reference substituted; TemplateError naming the first bad one."""
    if isinstance(value, str):
        return render_text(value, outputs)
    if isinstance(value, Mapping):
        return {key: render(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, outputs) for item in value]
    return value


def outputs_of(result: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a finished step offers its dependants: the `result` object of its output
    (the seed's output schemas: generate_3d's model_url, texture_url, ...;
    marketing_campaign's sent_count, ...), or the whole output when it has none."""
    if not result:
        return {}
    inner = result.get("result")
    if isinstance(inner, Mapping):
        return dict(inner)
    return {k: v for k, v in result.items() if k not in ("status", "completed_at")}

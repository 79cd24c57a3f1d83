"""The Kubernetes CEL library functions our CRD rules use, emulated for celpy.

Follows the Go implementations (k8s.io/apiserver/pkg/cel/library urls.go,
ip.go, cidr.go, quantity.go, lists.go): url() parses like net/url (host kept as
written), isIP() refuses IPv4-mapped IPv6, zones and leading zeros,
isGlobalUnicast() follows net/netip, quantity() parses resource.Quantity's
grammar (an invalid one is an error, as in Go) and compares exactly, sum() adds
a list of ints. `check` runs a whole rule as the apiserver does: a transition
rule (one reading oldSelf) only on update unless `optionalOldSelf`, which makes
oldSelf an optional (`hasValue()`, `value()`). Good enough to check what our
rules accept and refuse; the real apiserver stays the judge of syntax and cost.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

from devskyy_operator.quantity import parse_quantity

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class _URL(celtypes.StringType):
    hostname: str
    port: str
    scheme: str


def _is_url(text: str) -> bool:
    """net/url.ParseRequestURI: an absolute URI or an absolute path, no fragment."""
    if "#" in text or any(ord(c) < 0x20 or c == " " for c in text):
        return False
    return bool(_SCHEME.match(text)) or text.startswith("/")


def _parse(text: str) -> _URL:
    result = _URL(text)
    scheme, _, rest = text.partition(":") if _SCHEME.match(text) else ("", "", text)
    host = ""
    if rest.startswith("//"):
        authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
        host = authority.rsplit("@", 1)[-1]
    hostname, port = host, ""
    if host.startswith("["):
        end = host.find("]")
        hostname, port = host[1:end], host[end + 2 :] if host[end + 1 : end + 2] == ":" else ""
    elif ":" in host:
        hostname, port = host.split(":", 1)
    result.scheme, result.hostname, result.port = scheme.lower(), hostname, port
    return result


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return None
    return address


class _IP(celtypes.StringType):
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None


def _to_ip(text: Any) -> _IP:
    """An IP value; an invalid one carries None instead of raising.

    Kubernetes raises here, but every rule guards ip() with isIP() behind `||`,
    whose error absorption celpy reaches only after formatting the error (slow),
    so the emulation returns a value that makes every predicate false.
    """
    value = _IP(str(text))
    value.address = _ip(str(text))
    return value


def _global_unicast(value: _IP) -> bool:
    a = value.address
    if a is None:
        return False
    if isinstance(a, ipaddress.IPv4Address) and a == ipaddress.IPv4Address("255.255.255.255"):
        return False
    return not (a.is_unspecified or a.is_loopback or a.is_multicast or a.is_link_local)


class _CIDR(celtypes.StringType):
    network: ipaddress.IPv4Network | ipaddress.IPv6Network


def _cidr(text: Any) -> _CIDR:
    value = _CIDR(str(text))
    value.network = ipaddress.ip_network(str(text), strict=True)
    return value


def _contains_ip(cidr: _CIDR, other: Any) -> bool:
    address = other.address if isinstance(other, _IP) else _to_ip(other).address
    return (
        address is not None and address.version == cidr.network.version and address in cidr.network
    )


class _Quantity(celtypes.StringType):
    value: Decimal


def _quantity(text: Any) -> _Quantity:
    parsed = parse_quantity(str(text))
    if parsed is None:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    result = _Quantity(str(text))
    result.value = parsed
    return result


def _compare(a: _Quantity, b: _Quantity) -> int:
    return (a.value > b.value) - (a.value < b.value)


class _Optional(celtypes.MapType):
    """CEL's optional, as oldSelf is under optionalOldSelf: absent on create."""

    held: Any


def _optional(old: Any) -> _Optional:
    value = _Optional()
    value.held = None if old is None else json_to_cel(old)
    return value


def _value(optional: _Optional) -> Any:
    if optional.held is None:
        raise ValueError("optional.none() dereference")
    return optional.held


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "hasValue": lambda o: celtypes.BoolType(o.held is not None),
    "value": _value,
    "isURL": lambda s: celtypes.BoolType(_is_url(str(s))),
    "url": lambda s: _parse(str(s)),
    "getScheme": lambda u: celtypes.StringType(u.scheme),
    "getHostname": lambda u: celtypes.StringType(u.hostname),
    "getPort": lambda u: celtypes.StringType(u.port),
    "isIP": lambda s: celtypes.BoolType(_ip(str(s)) is not None),
    "ip": _to_ip,
    "isGlobalUnicast": lambda v: celtypes.BoolType(_global_unicast(v)),
    "cidr": _cidr,
    "containsIP": lambda c, v: celtypes.BoolType(_contains_ip(c, v)),
    "trim": lambda s: celtypes.StringType(str(s).strip()),
    "isQuantity": lambda s: celtypes.BoolType(parse_quantity(str(s)) is not None),
    "quantity": _quantity,
    "isGreaterThan": lambda a, b: celtypes.BoolType(_compare(a, b) > 0),
    "isLessThan": lambda a, b: celtypes.BoolType(_compare(a, b) < 0),
    "compareTo": lambda a, b: celtypes.IntType(_compare(a, b)),
    "sum": lambda items: celtypes.IntType(sum(int(i) for i in items)),
}


@functools.cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule), functions=FUNCTIONS)


def _run(expression: str, value: Any, old: Any, optional_old: bool = False) -> Any:
    activation = {"self": json_to_cel(value)}
    if optional_old:
        activation["oldSelf"] = _optional(old)
    elif old is not None:
        activation["oldSelf"] = json_to_cel(old)
    return _program(expression).evaluate(activation)


def evaluate(rule: str, value: Any, old: Any = None, optional_old: bool = False) -> bool:
    """Evaluate one x-kubernetes-validations rule with self (and oldSelf)."""
    result = _run(rule, value, old, optional_old)
    if not isinstance(result, celtypes.BoolType):
        raise AssertionError(f"rule did not evaluate to a bool: {result!r}")
    return bool(result)


def check(rule: Mapping[str, Any], value: Any, old: Any = None) -> bool:
    """One x-kubernetes-validations entry on create (`old` None) or update, as the
    apiserver runs it: a transition rule without optionalOldSelf is skipped on create."""
    optional_old = bool(rule.get("optionalOldSelf"))
    if old is None and "oldSelf" in rule["rule"] and not optional_old:
        return True
    return evaluate(rule["rule"], value, old, optional_old)


def message(expression: str, value: Any) -> str:
    """Evaluate a messageExpression (it must give a string)."""
    result = _run(expression, value, None)
    if not isinstance(result, str):
        raise AssertionError(f"messageExpression did not give a string: {result!r}")
    return str(result)

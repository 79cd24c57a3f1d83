"""Kubernetes resource quantities ("500m", "2", "1.5Gi", "1e3") as exact decimals.

The grammar of k8s.io/apimachinery resource.Quantity: a signed decimal number,
then a binary-SI suffix (Ki..Ei), a decimal-SI suffix (n, u, m, k, M, G, T, P,
E) or a decimal exponent (e3, E-2). Pure; used for settings, the resource
maxima and cost metrics, so the operator compares quantities the way the
apiserver's CEL `quantity()` does.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_FACTORS = {
    None: Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def parse_quantity(text: str) -> Decimal | None:
    """The exact value of a quantity, or None when `text` is not one."""
    match = _QUANTITY.match(text.strip())
    if match is None:
        return None
    suffix = match.group("suffix")
    try:
        number = Decimal(match.group("number"))
        if suffix is not None and suffix[0] in "eE" and len(suffix) > 1:
            return number.scaleb(int(suffix[1:]))
    except (InvalidOperation, ValueError):
        return None
    return number * _FACTORS[suffix]


def is_quantity(text: str) -> bool:
    return parse_quantity(text) is not None

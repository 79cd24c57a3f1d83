"""Bearer tokens: the settings hold only SHA-256 hashes, never tokens.

``DEVSKYY_API_TOKENS="alice:<sha256hex(token)>,ops:<sha256hex(token)>:admin"``.
Roles: none (a user: their own tasks), ``operator`` (reads every user's tasks and
history, acts only for itself), ``admin`` (reads and acts for every user).
Every presented token is hashed and compared with every entry in constant time,
so neither a match nor its position leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

ADMIN_ROLE = "admin"
OPERATOR_ROLE = "operator"


@dataclass(frozen=True)
class Principal:
    user_id: str
    admin: bool = False
    operator: bool = False

    @property
    def sees_all(self) -> bool:
        return self.admin or self.operator

    def may_act_for(self, user_id: str) -> bool:
        return self.admin or hmac.compare_digest(self.user_id, user_id)

    def may_read(self, user_id: str) -> bool:
        return self.sees_all or hmac.compare_digest(self.user_id, user_id)


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: Principal


class TokenTable:
    """The accepted tokens, parsed once at startup."""

    def __init__(self, entries: list[_Entry]) -> None:
        self._entries = entries

    @classmethod
    def parse(cls, spec: str | None) -> TokenTable:
        entries: list[_Entry] = []
        for item in (spec or "").split(","):
            item = item.strip()
            if not item:
                continue
            parts = item.split(":")
            if len(parts) not in (2, 3) or len(parts[1]) != 64:
                raise ValueError("api_tokens entries are user_id:sha256hex[:admin]")
            role = parts[2] if len(parts) == 3 else ""
            if role not in ("", ADMIN_ROLE, OPERATOR_ROLE):
                raise ValueError(f"unknown role {role!r} in api_tokens")
            principal = Principal(
                user_id=parts[0], admin=role == ADMIN_ROLE, operator=role == OPERATOR_ROLE
            )
            entries.append(_Entry(bytes.fromhex(parts[1]), principal))
        return cls(entries)

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal of a ``Bearer <token>`` header, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = hashlib.sha256(token.strip().encode()).digest()
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                found = entry.principal
        return found


def token_digest(token: str) -> str:
    """What to put in api_tokens for `token`."""
    return hashlib.sha256(token.encode()).hexdigest()

"""What a resolved configuration is made of: where the API server is, who we are,
and the one error for a configuration that cannot be used.

Apart from config.py so that the loaders (kubeconfig.py, exec_plugin.py,
credentials.py) can build and raise them without importing the class that
uses them.
"""

from __future__ import annotations

from dataclasses import dataclass


class KubeConfigError(Exception):
    """The configuration cannot be used; the message says which file and field."""


@dataclass(frozen=True)
class Endpoint:
    """Where the API server is and how to trust it (does not change while we run)."""

    server: str
    ca_file: str | None = None
    insecure: bool = False
    proxy: str | None = None  # proxy-url, else HTTPS_PROXY/NO_PROXY as kubectl reads them
    namespace: str = "default"
    source: str = ""  # for messages: which files and context, or "in-cluster"


@dataclass(frozen=True)
class Credential:
    """Who we are: the whole Authorization header value and/or a client certificate."""

    authorization: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @property
    def scheme_and_token(self) -> tuple[str | None, str | None]:
        """RFC 7235 split of the header ("Bearer", "abc"), as kopf's ConnectionInfo wants it."""
        if not self.authorization:
            return None, None
        scheme, _, token = self.authorization.partition(" ")
        return (scheme, token) if token else (None, scheme)

    def __repr__(self) -> str:
        # Never print a token (tracebacks, logs, pytest's assertion messages).
        shown = self.scheme_and_token[0] or ("<set>" if self.authorization else None)
        return f"Credential(authorization={shown!r}, cert_file={self.cert_file!r})"

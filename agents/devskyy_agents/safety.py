"""Static guards for user-supplied URLs and paths, applied at every door.

These checks need no network, so the API, the models and the CRD mirror of them
reject the obvious attacks early. The HTTP client repeats the address check
after DNS resolution (see `devskyy_agents.http`), which is the check that
counts against DNS rebinding and names that point at private addresses.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from pathlib import Path
from urllib.parse import urlsplit

BLOCKED_HOST_SUFFIXES = (".localhost", ".local", ".internal", ".cluster.local", ".svc")
BLOCKED_HOSTS = frozenset({"localhost", "metadata", "metadata.google.internal", "kubernetes"})
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*$")


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True only for globally routable unicast addresses (no private, loopback,
    link-local/metadata, CGNAT, multicast or reserved ranges; IPv4-mapped and
    6to4/Teredo IPv6 forms are judged by the IPv4 address they carry)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            return is_public_address(embedded)
    return bool(address.is_global and not address.is_multicast)


def check_public_https_url(url: str) -> str:
    """Return `url` if it is an https URL to a public host, else raise ValueError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme != "https":
        raise ValueError("URL must use https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("URL must not carry credentials")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise ValueError("URL has no host")
    if port is not None and port not in (443, 8443):
        raise ValueError("URL port must be 443 or 8443")
    check_public_host(host)
    return url


def check_public_host(host: str) -> None:
    """Raise ValueError unless `host` (name or address literal) may be public."""
    host = host.strip("[]").rstrip(".").lower()
    if host in BLOCKED_HOSTS or host.endswith(BLOCKED_HOST_SUFFIXES):
        raise ValueError(f"URL host {host!r} is internal")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None and _NUMERIC_HOST.match(host):
        # Decimal, hex, octal or shortened IPv4 forms (2130706433, 0x7f.1, 127.1):
        # resolvers and browsers read them as addresses, so refuse them outright.
        raise ValueError(f"URL host {host!r} is a non-canonical IP address")
    if address is not None:
        # Provider media lives on DNS names; address literals are how SSRF gets in
        # (and the CRD's CEL rules cannot judge them cheaply), so refuse them all.
        raise ValueError(f"URL host {host!r} must be a DNS name, not an IP address")


def check_relative_path(path: str) -> str:
    """Return `path` if it stays inside the volume it is relative to, else raise."""
    if "\x00" in path or "\\" in path:
        raise ValueError("path contains a forbidden character")
    if "%" in path:
        # Percent-encoding ("%2e%2e" is "..") means something else to every
        # consumer that decodes it; the volume's file names never need it.
        raise ValueError("path must not contain '%' (percent-encoding)")
    if path.startswith("/") or path.startswith("~"):
        raise ValueError("path must be relative to the datasets volume")
    if any(part == ".." for part in path.split("/")):
        raise ValueError("path must not contain '..'")
    normal = posixpath.normpath(path)
    if normal in (".", "") or normal.startswith("../"):
        raise ValueError("path must name a file inside the volume")
    return path


def resolve_inside(root: Path, relative: str) -> Path:
    """Join `relative` onto `root` and prove the real path stays inside `root`.

    Symlinks are resolved, so a link in the volume that points outside it is
    refused as well.
    """
    check_relative_path(relative)
    base = root.resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise ValueError("path escapes its volume")
    return target

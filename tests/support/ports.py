"""Free ports for servers the tests start (loopback unless a host is given)."""

from __future__ import annotations

from devskyy_devcluster.ports import free_port

__all__ = ["free_port"]

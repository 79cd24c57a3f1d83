"""Certificates and keys given inline (`*-data`, an exec plugin's PEM) as private files.

Python's ssl module loads a client certificate only from a file, and kopf's
ConnectionInfo and our transport take paths, so inline material is written
once to a 0600 file in a 0700 directory of this process (removed at exit).
Files are named by a hash of their content: loading the same configuration
again gives the same path (the transport then keeps its SSL context), a new
certificate gives a new path.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

from devskyy_operator.kube.connection import KubeConfigError

_lock = threading.Lock()  # plugins run in threads
_directory: Path | None = None


def private_file(content: bytes, suffix: str) -> str:
    """The path of a file only this user can read that holds `content`."""
    global _directory
    with _lock:
        if _directory is None:
            _directory = Path(tempfile.mkdtemp(prefix="devskyy-kube-"))  # mode 0700
            atexit.register(shutil.rmtree, _directory, ignore_errors=True)
        path = _directory / f"{hashlib.sha256(content).hexdigest()[:32]}{suffix}"
        if not path.exists():
            descriptor, partial = tempfile.mkstemp(dir=_directory)  # mode 0600
            with os.fdopen(descriptor, "wb") as out:
                out.write(content)
            os.replace(partial, path)
        return str(path)


def file_for(path: Path | None, data: bytes | None, suffix: str, field: str) -> str | None:
    """A file that exists: the one named (checked now, not at the first TLS handshake),
    or a private copy of the inline data."""
    if data:
        return private_file(data, suffix)
    if path is None:
        return None
    if not path.is_file():
        raise KubeConfigError(f"{field} {path}: no such file")
    return str(path)

"""Versioned models on the models volume, in skops format (never pickle).

Layout: <models_dir>/<model_id>/<version>/{model.skops,metadata.json} and a
<model_id>/latest file naming the newest version, replaced atomically so a
reader sees the old or the new version, never half of one. Loading accepts only
the types in TRUSTED_TYPES: a tampered file naming anything else is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import skops.io as sio

from devskyy_agents.errors import InvalidTaskInput, PermanentTaskError

MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
LATEST_FILE = "latest"
VERSION_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CACHE_SIZE = 8

# Types outside skops' built-in safe set that our own pipelines contain.
TRUSTED_TYPES = frozenset(
    {
        "builtins.dict",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.int64",
        "numpy.str_",
        "sklearn.feature_extraction.text.HashingVectorizer",
        "sklearn.feature_extraction.text.TfidfTransformer",
        "sklearn.linear_model._stochastic_gradient.SGDClassifier",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
        "sklearn.cluster._kmeans.KMeans",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.pipeline.Pipeline",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.Interval",
        "sklearn.linear_model._sgd_fast.Hinge",
        "sklearn.linear_model._sgd_fast.Log",
        "sklearn.linear_model._sgd_fast.ModifiedHuber",
        "sklearn._loss._loss.CyHalfBinomialLoss",
    }
)


class ModelNotFound(PermanentTaskError):
    """No trained model (or not the requested version)."""


class UntrustedModel(PermanentTaskError):
    """The stored model names types outside the allowlist."""


@dataclass(frozen=True)
class StoredModel:
    model_id: str
    version: str
    estimator: Any
    metadata: dict[str, Any]


def new_version(payload: bytes, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{hashlib.sha256(payload).hexdigest()[:8]}"


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: OrderedDict[tuple[str, str], StoredModel] = OrderedDict()

    def save(self, model_id: str, estimator: Any, metadata: dict[str, Any]) -> str:
        """Store a new version and point `latest` at it; returns the version."""
        version, _ = self.save_version(model_id, estimator, metadata)
        self.point_latest(model_id, version)
        return version

    def save_version(
        self, model_id: str, estimator: Any, metadata: dict[str, Any]
    ) -> tuple[str, str]:
        """Write a new version (model, then metadata), read it back; (version, sha256)."""
        payload = sio.dumps(estimator)
        version = new_version(payload)
        directory = self.root / model_id / version
        directory.mkdir(parents=True, exist_ok=False)
        _write_atomic(directory / MODEL_FILE, payload)
        meta = {**metadata, "model_id": model_id, "version": version, "format": "skops"}
        _write_atomic(directory / METADATA_FILE, json.dumps(meta, indent=2).encode())
        digest = hashlib.sha256(payload).hexdigest()
        if not self.verify(model_id, version, digest):
            raise OSError(f"model {model_id}@{version} does not read back as written")
        return version, digest

    def verify(self, model_id: str, version: str, sha256: str) -> bool:
        """Whether the stored model file of `version` is intact (same bytes as written)."""
        if not VERSION_RE.match(version):
            return False
        try:
            payload = (self.root / model_id / version / MODEL_FILE).read_bytes()
        except OSError:
            return False
        return hashlib.sha256(payload).hexdigest() == sha256

    def point_latest(self, model_id: str, version: str) -> None:
        """Make `version` the latest, unless a newer one already is (versions sort by time)."""
        try:
            current = (self.root / model_id / LATEST_FILE).read_text().strip()
        except FileNotFoundError:
            current = ""
        if VERSION_RE.match(current) and current > version:
            return
        _write_atomic(self.root / model_id / LATEST_FILE, version.encode())

    def latest_version(self, model_id: str) -> str:
        try:
            version = (self.root / model_id / LATEST_FILE).read_text().strip()
        except FileNotFoundError:
            raise ModelNotFound(f"model {model_id} has not been trained yet") from None
        if not VERSION_RE.match(version):
            raise UntrustedModel(f"model {model_id}: corrupt latest pointer")
        return version

    def load(self, model_id: str, version: str | None = None) -> StoredModel:
        """The requested (or latest) version, served from an LRU cache when warm."""
        version = version or self.latest_version(model_id)
        if not VERSION_RE.match(version):
            raise InvalidTaskInput("model_version has forbidden characters")
        key = (model_id, version)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        stored = self._load_from_disk(model_id, version)
        self._cache[key] = stored
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return stored

    def _load_from_disk(self, model_id: str, version: str) -> StoredModel:
        directory = self.root / model_id / version
        try:
            payload = (directory / MODEL_FILE).read_bytes()
            metadata = json.loads((directory / METADATA_FILE).read_text())
        except FileNotFoundError:
            raise ModelNotFound(f"model {model_id} has no version {version}") from None
        untrusted = set(sio.get_untrusted_types(data=payload))
        refused = sorted(untrusted - TRUSTED_TYPES)
        if refused:
            raise UntrustedModel(f"model {model_id}@{version} contains untrusted types {refused}")
        estimator = sio.loads(payload, trusted=sorted(untrusted))
        return StoredModel(model_id, version, estimator, metadata)

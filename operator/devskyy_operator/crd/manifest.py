"""What every one of our CustomResourceDefinitions shares, built once.

The task, schedule and workflow CRDs differ only in their names, schema and
printer columns; the manifest around them (one served and stored version with a
status subresource, Helm's keep policy, our category), the deterministic YAML and
the write-or-check command line are the same, so they live here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devskyy_operator import keys

CRD_DIRECTORY = Path("deploy/crds")


@dataclass(frozen=True)
class CrdNames:
    kind: str
    plural: str
    singular: str
    short_name: str

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{keys.GROUP}"

    @property
    def default_path(self) -> Path:
        return CRD_DIRECTORY / f"{self.crd_name}.yaml"


def column(name: str, path: str, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    """One additionalPrinterColumn; priority 1 shows only with `-o wide`."""
    printed: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        printed["priority"] = priority
    return printed


def crd_manifest(
    names: CrdNames, root: dict[str, Any], columns: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 manifest of one namespaced resource of ours."""
    version = {
        "name": keys.VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "schema": {"openAPIV3Schema": root},
        "additionalPrinterColumns": list(columns),
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": names.crd_name,
            "annotations": {"helm.sh/resource-policy": "keep"},
            "labels": {"app.kubernetes.io/part-of": "devskyy"},
        },
        "spec": {
            "group": keys.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": names.kind,
                "listKind": f"{names.kind}List",
                "plural": names.plural,
                "singular": names.singular,
                "shortNames": [names.short_name],
                "categories": [keys.CATEGORY],
            },
            "versions": [version],
        },
    }


def render_yaml(manifest: dict[str, Any], header: str) -> str:
    """Deterministic YAML (sorted keys, block style) under a generated-file header."""
    body = yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False, width=100)
    return header + body


def write_or_check(
    argv: list[str] | None,
    description: str,
    default_path: Path,
    module: str,
    render: Callable[[argparse.Namespace], str],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """`python -m <module> [PATH]` writes the file; `--check PATH` exits 1 when stale."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("path", nargs="?", type=Path, default=default_path)
    parser.add_argument("--check", metavar="PATH", type=Path, help="fail if PATH is stale")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    rendered = render(args)
    if args.check is not None:
        current = args.check.read_text() if args.check.exists() else ""
        if current != rendered:
            print(f"{args.check} is stale; run: python -m {module}", file=sys.stderr)
            return 1
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(rendered)
    return 0

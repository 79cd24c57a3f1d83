"""Training data from the datasets volume, and hyperparameter access with bounds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import JsonValue

from devskyy_agents.errors import InvalidTaskInput
from devskyy_agents.safety import resolve_inside


def load_table(datasets_dir: Path, relative: str) -> pd.DataFrame:
    """Read a CSV or Parquet file that must stay inside the datasets volume."""
    try:
        path = resolve_inside(datasets_dir, relative)
    except ValueError as exc:
        raise InvalidTaskInput(f"training_data_path: {exc}") from None
    if not path.is_file():
        raise InvalidTaskInput(f"training_data_path: no file {relative!r} in the datasets volume")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise InvalidTaskInput(f"training_data_path: unreadable {suffix} file: {exc}") from None
    raise InvalidTaskInput("training_data_path must end in .csv or .parquet")


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidTaskInput(f"{what}: missing column(s) {missing}")


class Hyper:
    """Typed, bounded reads of the task's hyperparameters."""

    def __init__(self, raw: dict[str, JsonValue]) -> None:
        self._raw = raw

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self._raw.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise InvalidTaskInput(f"hyperparameters.{name} must be an integer in [{lo}, {hi}]")
        return value

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        value = self._raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise InvalidTaskInput(f"hyperparameters.{name} must be a number in [{lo}, {hi}]")
        return float(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw.get(name, default)
        if not isinstance(value, bool):
            raise InvalidTaskInput(f"hyperparameters.{name} must be true or false")
        return value

    def text(self, name: str, default: str) -> str:
        value = self._raw.get(name, default)
        if not isinstance(value, str):
            raise InvalidTaskInput(f"hyperparameters.{name} must be a string")
        return value

    def text_list(self, name: str) -> list[str] | None:
        value = self._raw.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidTaskInput(f"hyperparameters.{name} must be a list of strings")
        return [str(v) for v in value]

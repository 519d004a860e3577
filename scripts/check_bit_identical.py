"""Is CPU training bit-identical to another checkout's? Prints hashes of the losses, metrics, parameters and
recommendations of a fixed small set of runs; run it on two checkouts and compare the lines.

Runs (2 epochs each, 300 generated users, 1 thread): the sampled and the full softmax, hierarchical and
session-only, through :func:`hrnn.training.fit` with per-epoch validation; the sampled softmax with momentum
on the masked (CUDA) engine run on the CPU; and, for the first run, the service metrics, the next-item and
next-session protocols and a model directory's recommendations.

    python scripts/check_bit_identical.py                        # this checkout
    PYTHONPATH=/path/to/other/checkout python scripts/check_bit_identical.py
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.append(str(Path(__file__).resolve().parents[1]))  # this checkout, unless PYTHONPATH names another

from hrnn.artifact import LoadedModel, save_model  # noqa: E402
from hrnn.data import build_interactions  # noqa: E402
from hrnn.data.splits import hpo_splits, next_item_split  # noqa: E402
from hrnn.evaluation import HRNNScorer, evaluate_next_item, evaluate_service  # noqa: E402
from hrnn.evaluation.next_session import evaluate_next_session  # noqa: E402
from hrnn.model import ModelConfig  # noqa: E402
from hrnn.recipe import HRNN_RECIPE  # noqa: E402
from hrnn.synth import generate_interactions  # noqa: E402
from hrnn.training import Trainer, TrainConfig, Validation, fit  # noqa: E402

BASE = dict(hidden_dimension=32, bptt=8, epochs=2, batch_size=16, num_negatives=64, seed=3)


def digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, dict) and part and all(isinstance(v, torch.Tensor) for v in part.values()):
            for key in sorted(part):
                h.update(key.encode())
                h.update(part[key].detach().cpu().contiguous().numpy().tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=repr).encode())
    return h.hexdigest()[:16]


def masked_engine_config(**settings) -> TrainConfig:
    """The masked (CUDA) engine on the CPU, in either checkout's spelling."""
    try:
        from hrnn.training.engine import EngineSettings
    except ImportError:  # before the engine object: a flag of the training settings
        return TrainConfig(**settings, sync_free=True)
    return TrainConfig(**settings, engine=EngineSettings(kind="masked"))


def main() -> None:
    torch.set_num_threads(1)
    data = build_interactions(generate_interactions(n_users=300, n_items=200, seed=11))
    splits = hpo_splits(data, 3)
    train = splits.training_data(data)
    lines = {"data": digest(data.items.tolist(), data.times.tolist(), data.session_offsets.tolist())}
    first = None
    for loss in ("sampled", "full"):
        for hierarchical in (True, False):
            hp = HRNN_RECIPE.values(**BASE, loss=loss)
            result = fit(train, hp, validation=Validation(data, splits.validation), hierarchical=hierarchical,
                         device="cpu")
            losses = [e["loss"] for e in result.epochs]
            metrics = [e["metrics"] for e in result.epochs]
            name = f"{loss}/{'hierarchical' if hierarchical else 'session-only'}"
            lines[name] = (f"losses {digest(losses)} metrics {digest(metrics)} "
                           f"parameters {digest(result.model.state_dict())}")
            first = first or (result, hp)
    config = masked_engine_config(**{k: v for k, v in BASE.items() if k != "hidden_dimension"}, loss="sampled",
                                  momentum=0.5, device="cpu")
    trainer = Trainer.create(ModelConfig(n_items=train.n_items, hidden_dimension=32), config)
    losses = [trainer.train_epoch(train).loss for _ in range(2)]
    lines["sampled+momentum/masked engine on the cpu"] = (f"losses {digest(losses)} "
                                                          f"parameters {digest(trainer.model.state_dict())}")
    result, hp = first
    model, timeout = result.model, 60.0 * hp.session_timeout_minutes
    scorer = HRNNScorer(model, torch.device("cpu"), item_mask=torch.as_tensor(train.item_counts() > 0),
                        session_timeout_seconds=timeout)
    split = next_item_split(data)
    lines["evaluation"] = (f"service {digest(evaluate_service(scorer, data, splits.test))} "
                           f"next-item {digest(evaluate_next_item(scorer, split))} "
                           f"next-session {digest(evaluate_next_session(scorer, split))}")
    with tempfile.TemporaryDirectory() as tmp:
        save_model(tmp, model, data, train, hp.to_wire(), {}, session_timeout_seconds=timeout)
        loaded = LoadedModel.load(tmp)
        users = loaded.user_ids.to_pylist()[:50] + ["nobody"]
        last = int(data.times.max())
        recs = [loaded.recommend(users, 25, at_time=t) for t in (last + 60, last + 86400)]
    lines["recommendations"] = digest(recs)
    print(f"hrnn from {Path(sys.modules['hrnn'].__file__).parent.parent}")
    for name, line in lines.items():
        print(f"{name}: {line}")
    print(f"all: {digest(lines)}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

"""Training runs: CPU determinism, checkpoint resume, the model directory and recommendations."""

import json

import numpy as np
import pytest
import torch

from hrnn.artifact import LoadedModel, save_model
from hrnn.data import build_interactions
from hrnn.errors import InvalidInputException
from hrnn.recipe import HRNN_RECIPE
from hrnn.evaluation import HRNNScorer, PopularityScorer, evaluate_next_item, evaluate_service
from hrnn.training import Validation, fit
from hrnn.data.splits import hpo_splits, next_item_split
from hrnn.synth import generate_interactions

HP = HRNN_RECIPE.values(hidden_dimension=32, bptt=4, epochs=2, batch_size=16, num_negatives=64, seed=3)


@pytest.fixture(scope="module")
def data():
    return build_interactions(generate_interactions(n_users=300, n_items=150, seed=5))


@pytest.fixture(scope="module")
def splits(data):
    return hpo_splits(data, seed=1)


def _run(data, splits, hp=HP, **kwargs):
    return fit(splits.training_data(data), hp, validation=Validation(data, splits.validation), device="cpu", **kwargs)


@pytest.mark.parametrize("loss", ["sampled", "full"])
def test_same_seed_same_losses_and_metrics_on_cpu(data, splits, loss):
    first = _run(data, splits, HP.replace(loss=loss))
    second = _run(data, splits, HP.replace(loss=loss))
    assert [e["loss"] for e in first.epochs] == [e["loss"] for e in second.epochs]
    assert [e["metrics"] for e in first.epochs] == [e["metrics"] for e in second.epochs]
    assert first.epochs[-1]["loss"] < first.epochs[0]["loss"]
    other = _run(data, splits, HP.replace(loss=loss, seed=4))
    assert [e["loss"] for e in other.epochs] != [e["loss"] for e in first.epochs]


@pytest.mark.parametrize("momentum", [0.0, 0.3])
def test_resume_from_checkpoint_matches_an_uninterrupted_run(data, splits, tmp_path, momentum):
    """Bit-identical: the checkpoint carries the optimiser state and every RNG stream (dropout is on)."""
    hp = HP.replace(epochs=3, momentum=momentum)
    whole = _run(data, splits, hp)
    _run(data, splits, hp, checkpoint_dir=tmp_path, max_epochs=1)  # "killed" after epoch 1
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert "torch_rng" in state and ("cuda_rng" in state) == torch.cuda.is_initialized()
    torch.manual_seed(12345)  # a resumed process starts with other RNG states: the checkpoint's must win
    resumed = _run(data, splits, hp, checkpoint_dir=tmp_path)
    assert [e["epoch"] for e in resumed.epochs] == [1, 2, 3]
    assert [e["loss"] for e in resumed.epochs] == [e["loss"] for e in whole.epochs]
    for a, b in zip(resumed.model.parameters(), whole.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_model_directory_round_trip_and_recommendations(data, splits, tmp_path):
    train = splits.training_data(data)
    model = _run(data, splits).model
    save_model(tmp_path / "model", model, data, train, {"hidden_dimension": "32"}, {"note": "test"},
               session_timeout_seconds=1800.0)
    info = json.loads((tmp_path / "model" / "model.json").read_text())
    assert info["model"]["hidden_dimension"] == 32 and info["hyperparameters"] == {"hidden_dimension": "32"}
    loaded = LoadedModel.load(tmp_path / "model")  # weights_only=True inside
    for a, b in zip(loaded.model.parameters(), model.parameters()):
        torch.testing.assert_close(a, b)

    user = data.user_ids[int(data.seq_users[0])].as_py()
    rec = loaded.recommend([user], 10)[0]["itemList"]  # now: long after the data, a returning user
    scores = [r["score"] for r in rec]
    assert len(rec) == 10 and scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores)
    # The scores are the softmax over all (trained) items: they match the model's own top scores.
    h_s, _, h_u = HRNNScorer(model, torch.device("cpu"))._run(data.take(np.array([0])), None)
    state = model.next_session_state(h_s, h_u)
    logits = model.score(state).float().masked_fill(~torch.as_tensor(train.item_counts() > 0), float("-inf"))
    probs = torch.softmax(logits, 1)[0].detach()
    top = torch.argsort(probs, descending=True, stable=True)[:10]
    assert [r["itemId"] for r in rec] == data.item_ids.take(top.numpy()).to_pylist()
    np.testing.assert_allclose(scores, probs[top].numpy(), atol=1e-6)

    # Within the session timeout the user's last session continues.
    last = int(data.times[data.user_offsets[1] - 1])
    same_session = loaded.recommend([user], 10, at_time=last + 60)[0]["itemList"]
    continuing = torch.softmax(model.score(h_s).float().masked_fill(
        ~torch.as_tensor(train.item_counts() > 0), float("-inf")), 1)[0].detach()
    assert [r["itemId"] for r in same_session] == data.item_ids.take(
        torch.argsort(continuing, descending=True, stable=True)[:10].numpy()).to_pylist()

    unknown = loaded.recommend(["no-such-user"], 5)[0]["itemList"]
    counts = train.item_counts()
    expected = data.item_ids.take(np.argsort(-counts, kind="stable")[:5]).to_pylist()
    assert [r["itemId"] for r in unknown] == expected
    for bad in (0, 501, True, "5"):
        with pytest.raises(InvalidInputException, match="numResults"):
            loaded.recommend([user], bad)


def test_next_item_protocol_reports_both_tie_rules_and_beats_popularity(data):
    split = next_item_split(data, test_fraction=0.15)
    model = fit(split.train, HP.replace(epochs=3), device="cpu").model
    known = torch.as_tensor(split.train.item_counts() > 0)
    result = evaluate_next_item(HRNNScorer(model, torch.device("cpu"), item_mask=known), split)
    popular = evaluate_next_item(PopularityScorer(split.train.item_counts()), split)
    assert result["n_events"] == popular["n_events"] > 0
    for k in (5, 10, 20):
        assert result[f"recall_at_{k}"] >= result[f"recall_at_{k}_pessimistic"]
    assert result["recall_at_20"] > popular["recall_at_20"]


def test_service_metrics_of_most_popular_are_hand_checkable(data, splits):
    train = splits.training_data(data)
    counts = train.item_counts()
    metrics = evaluate_service(PopularityScorer(counts), data, splits.test)
    top25 = set(np.argsort(-counts, kind="stable")[:25].tolist())
    assert metrics["coverage"] == pytest.approx(25 / data.n_items)
    offsets, relevant = splits.test.relevant(data)
    hits = [len(top25 & set(relevant[offsets[i]:offsets[i + 1]].tolist())) for i in range(len(offsets) - 1)]
    assert metrics["precision_at_25"] == pytest.approx(np.mean(hits) / 25)

"""Live sessions: users' stored states advanced event by event equal the states recomputed offline from
their whole history (session timeouts crossed, a brand-new user, unknown items), and so do the
recommendations; a format 1 model directory still recommends but refuses to advance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hrnn.artifact import LoadedModel, save_model
from hrnn.data import build_interactions
from hrnn.errors import InvalidInputException
from hrnn.evaluation import HRNNScorer
from hrnn.recipe import HRNN_RECIPE
from hrnn.serving import UserStates
from hrnn.synth import generate_interactions
from hrnn.training import fit

HP = HRNN_RECIPE.values(hidden_dimension=32, bptt=8, epochs=1, batch_size=16, seed=5)
TIMEOUT = 60.0 * HP.session_timeout_minutes


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A model, the users' histories up to a cut time (stored in a model directory) and their events after it."""
    data = build_interactions(generate_interactions(n_users=300, n_items=150, seed=13))
    model = fit(data, HP, device="cpu").model.eval()
    cut_time = np.quantile(data.times, 0.7)
    heads, ends = data.user_offsets[:-1], data.user_offsets[1:]
    cuts = np.array([lo + np.searchsorted(data.times[lo:hi], cut_time) for lo, hi in zip(heads, ends)])
    with_history = np.flatnonzero((cuts > heads) & (cuts < ends))[:40]  # history and new events
    brand_new = np.flatnonzero(cuts == heads)[:3]  # every event after the cut: unknown to the model
    assert len(with_history) == 40 and len(brand_new) == 3
    directory = tmp_path_factory.mktemp("live") / "model"
    history_users = np.flatnonzero(cuts > heads)
    save_model(directory, model, data.take(history_users, stops=cuts[history_users]), data, HP.to_wire(), {},
               session_timeout_seconds=TIMEOUT)
    seqs = np.concatenate([with_history, brand_new])
    return data, model, LoadedModel.load(directory), seqs, cuts[seqs]


def _live(loaded: LoadedModel, data, seqs, cuts) -> UserStates:
    """Each user's stored state, advanced by their events after the cut, one step (one event per user) at a
    time; users out of events get -1 (an unknown item), and one step is unknown items for everyone."""
    ids = [data.user_ids[int(data.seq_users[s])].as_py() for s in seqs]
    states = loaded.states(ids)
    ends = data.user_offsets[seqs + 1]
    for k in range(int((ends - cuts).max())):
        event = cuts + k
        alive = event < ends
        items = np.where(alive, data.items[np.minimum(event, len(data.items) - 1)], -1)
        times = np.where(alive, data.times[np.minimum(event, len(data.times) - 1)], 0)
        states = loaded.advance(states, items, times)
        if k == 1:  # an event of an item the model does not know: nothing moves
            unknown = loaded.advance(states, np.full(len(seqs), -1), times + 5)
            for a, b in zip(vars(unknown).values(), vars(states).values()):
                assert torch.equal(a, b)
    return states


def test_advancing_stored_states_event_by_event_equals_recomputing_the_history(world, tmp_path):
    data, model, loaded, seqs, cuts = world
    after_cut = np.concatenate([np.arange(c, e) for c, e in zip(cuts, data.user_offsets[seqs + 1])])
    assert data.session_start_mask()[after_cut].sum() > 20  # sessions timed out and started again among the new events
    assert not loaded.states([data.user_ids[int(data.seq_users[s])].as_py() for s in seqs[-3:]]).has_history.any()
    live = _live(loaded, data, seqs, cuts)

    whole = data.take(seqs)  # the same users' whole histories, computed offline
    h_s, h_u, _ = HRNNScorer(model, torch.device("cpu")).user_states(whole)
    torch.testing.assert_close(live.h_s, h_s, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(live.h_u, h_u, rtol=1e-5, atol=1e-5)
    assert live.last_time.tolist() == data.times[data.user_offsets[seqs + 1] - 1].tolist()
    assert live.has_history.all()

    # The same recommendations, in the same order, as a model directory made from the whole histories:
    # for returning users (a day after the last event) and within a session (a minute after one user's).
    save_model(tmp_path / "offline", model, whole, data, HP.to_wire(), {}, session_timeout_seconds=TIMEOUT)
    offline = LoadedModel.load(tmp_path / "offline")
    ids = [data.user_ids[int(data.seq_users[s])].as_py() for s in seqs]
    last = int(live.last_time.max())
    queries = [(slice(None), last + 86_400)] + [(slice(i, i + 1), int(live.last_time[i]) + 60) for i in (0, 7, 41)]
    for rows, at in queries:
        got = loaded.recommend_states(live.take(torch.arange(len(seqs))[rows]), 25, at_time=at)
        expected = offline.recommend(ids[rows], 25, at_time=at)
        for g, e in zip(got, expected):
            assert [x["itemId"] for x in g["itemList"]] == [x["itemId"] for x in e["itemList"]]
            np.testing.assert_allclose([x["score"] for x in g["itemList"]], [x["score"] for x in e["itemList"]],
                                       atol=2e-6)


def test_a_user_without_history_gets_the_popular_items_until_an_event_arrives(world):
    data, _, loaded, _, _ = world
    fresh = UserStates.new_users(2, loaded.model.hidden)
    popular = loaded.recommend(["nobody"], 10)[0]
    assert loaded.recommend_states(fresh, 10, at_time=0) == [popular, popular]
    moved = loaded.advance(fresh, [int(data.items[0]), -1], [1_700_000_000, 1_700_000_000])
    assert moved.has_history.tolist() == [True, False] and moved.last_time.tolist() == [1_700_000_000, 0]
    answers = loaded.recommend_states(moved, 10, at_time=1_700_000_060)
    assert answers[1] == popular and answers[0] != popular
    with pytest.raises(ValueError, match="one item and one time per user"):
        loaded.advance(fresh, [1], [1, 2])


def test_a_format_1_directory_recommends_but_refuses_to_advance(world, tmp_path):
    data, model, _, seqs, _ = world
    save_model(tmp_path, model, data, data, HP.to_wire(), {}, session_timeout_seconds=TIMEOUT)
    ids = [data.user_ids[int(data.seq_users[s])].as_py() for s in seqs]
    before = LoadedModel.load(tmp_path).recommend(ids, 10, at_time=2e9)
    info = json.loads((tmp_path / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps({**info, "format_version": 1}))
    states = torch.load(tmp_path / "user_states.pt", weights_only=True)
    del states["user_level_states"]
    torch.save(states, tmp_path / "user_states.pt")
    old = LoadedModel.load(tmp_path)
    assert old.user_level is None and old.recommend(ids, 10, at_time=2e9) == before
    with pytest.raises(InvalidInputException, match="format 1.*does not store the user-level states"):
        old.states(ids)

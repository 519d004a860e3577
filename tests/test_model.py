"""The HRNN's state rules, the user-parallel batching and truncated BPTT, checked on hand-made sequences."""

import numpy as np
import pyarrow as pa
import pytest
import torch

from hrnn.data import InteractionData
from hrnn.model import HRNN, ModelConfig, gap_feature
from hrnn.model.gru import gru_cell
from hrnn.training import EventTensors, Trainer, TrainConfig, slot_layout


def make_data(users: list[list[list[int]]], gap_in=60, gap_between=7200) -> InteractionData:
    """users -> sessions -> items; events inside a session 1 minute apart, sessions 2 hours apart."""
    items, times, seq_heads, session_heads = [], [], [], []
    for sessions in users:
        seq_heads.append(len(items))
        t = 1_700_000_000
        for session in sessions:
            session_heads.append(len(items))
            for item in session:
                items.append(item)
                times.append(t)
                t += gap_in
            t += gap_between
    n = len(items)
    n_items = max(items) + 1
    return InteractionData(
        items=np.array(items, dtype=np.int32), times=np.array(times, dtype=np.int64),
        weights=np.ones(n, dtype=np.float32),
        user_offsets=np.array(seq_heads + [n], dtype=np.int64),
        seq_users=np.arange(len(users), dtype=np.int32),
        session_offsets=np.array(session_heads + [n], dtype=np.int64),
        user_ids=pa.array([f"u{i}" for i in range(len(users))]),
        item_ids=pa.array([f"i{i}" for i in range(n_items)]),
    )


def _gru(gi, h, layer):
    return gru_cell(gi, h, layer.weight, layer.bias)


def reference_states(model: HRNN, data: InteractionData, user: int) -> list[torch.Tensor]:
    """Quadrana et al.'s rules, one event at a time, for one user: what every batched path must equal."""
    h = model.hidden
    lo, hi = data.user_offsets[user], data.user_offsets[user + 1]
    session_start = data.session_start_mask()
    h_u = torch.zeros(1, h)
    h_s = torch.zeros(1, h)
    out = []
    for e in range(lo, hi):
        if e == lo:  # a new user: both states zero
            h_u = torch.zeros(1, h)
            h_s = torch.zeros(1, h)
        elif session_start[e]:  # the finished session's final state updates the user state
            if model.config.hierarchical:
                h_u = _gru(model.user_ih(h_s), h_u, model.user_hh)
                h_s = torch.tanh(model.session_init(h_u))
            else:
                h_s = torch.zeros(1, h)
        gap = 0.0 if e == lo else float(np.log1p((data.times[e] - data.times[e - 1]) / 60.0) * 0.1)
        x = model.item_embedding(torch.tensor([int(data.items[e])]))
        gi = model.session_ih(torch.cat([x, torch.tensor([[gap]])], dim=1))
        h_s = _gru(gi, h_s, model.session_hh)
        out.append(h_s[0])
    return out


USERS = [
    [[1, 2, 3], [4, 5]],
    [[6, 7]],
    [[2, 8], [9], [3, 1, 4]],
    [[5, 5, 5, 6]],
    [[7], [8, 9]],
]


@pytest.mark.parametrize("hierarchical", [True, False])
@pytest.mark.parametrize("batch", [1, 2, 3])
def test_batched_window_equals_one_user_at_a_time(hierarchical, batch):
    torch.manual_seed(0)
    data = make_data(USERS)
    model = HRNN(ModelConfig(n_items=data.n_items, hidden_dimension=8, hierarchical=hierarchical, dropout=0.0))
    model.eval()
    tensors = EventTensors.build(data, TrainConfig(recency_mask=False), torch.device("cpu"))
    layout = torch.as_tensor(slot_layout(data.lengths, data.user_offsets, batch, np.random.default_rng(1)))
    # Every event is in exactly one slot, and each slot walks its users' events in order.
    seen = layout[layout >= 0].numpy()
    assert sorted(seen.tolist()) == list(range(data.n_events))
    for b in range(layout.shape[1]):
        col = layout[:, b][layout[:, b] >= 0].numpy()
        assert np.all(np.diff(col)[~np.isin(col[1:], data.user_offsets[:-1])] == 1)

    reference = {}
    for u in range(data.n_sequences):
        for e, state in zip(range(data.user_offsets[u], data.user_offsets[u + 1]), reference_states(model, data, u)):
            reference[e] = state
    h_s, h_u = model.initial_state(layout.shape[1], torch.device("cpu"))
    with torch.no_grad():
        for lo in range(0, layout.shape[0], 2):  # windows of 2 steps: states carried across windows
            idx = layout[lo:lo + 2]
            ev = idx.clamp(min=0)
            present = idx >= 0
            gates = model.encode(tensors.items[ev], tensors.gaps[ev])
            _, h_s, h_u = model.advance(gates, tensors.session_start[ev] | ~present,
                                        tensors.user_start[ev] | ~present, h_s, h_u)
            for b in range(idx.shape[1]):
                if present[-1, b]:
                    torch.testing.assert_close(h_s[b], reference[int(idx[-1, b])], rtol=1e-5, atol=1e-6)


def test_prediction_state_at_a_session_end_is_the_next_sessions_start_state():
    torch.manual_seed(0)
    data = make_data([[[1, 2], [3, 4]]])
    model = HRNN(ModelConfig(n_items=data.n_items, hidden_dimension=6, dropout=0.0))
    tensors = EventTensors.build(data, TrainConfig(recency_mask=False), torch.device("cpu"))
    ev = torch.arange(4).unsqueeze(1)
    with torch.no_grad():
        states, _, _ = model.advance(model.encode(tensors.items[ev], tensors.gaps[ev]), tensors.session_start[ev],
                                     tensors.user_start[ev], *model.initial_state(1, torch.device("cpu")))
        ref = reference_states(model, data, 0)
        h_u = _gru(model.user_ih(ref[1].unsqueeze(0)), torch.zeros(1, 6), model.user_hh)
        start = torch.tanh(model.session_init(h_u))[0]
    torch.testing.assert_close(states[0, 0], ref[0])  # predicts item 2 (same session)
    torch.testing.assert_close(states[1, 0], start)  # predicts item 3 from the user state alone
    torch.testing.assert_close(states[2, 0], ref[2])
    # Targets: every event predicts the user's next item; the last event has none.
    assert tensors.target.tolist() == [2, 3, 4, -1]


def test_gap_feature_is_log_minutes_and_zero_at_user_start():
    times = torch.tensor([0, 60, 60 + 3600, 0, 120])
    starts = torch.tensor([True, False, False, True, False])
    gaps = gap_feature(times, starts)
    expected = torch.tensor([0.0, np.log1p(1.0), np.log1p(60.0), 0.0, np.log1p(2.0)], dtype=torch.float32) * 0.1
    torch.testing.assert_close(gaps, expected)


def test_slot_layout_keeps_users_whole_and_balances_slots():
    lengths = np.array([5, 1, 3, 7, 2, 2, 4])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    layout = slot_layout(lengths, offsets, 3, np.random.default_rng(0))
    assert layout.shape[1] == 3
    for u in range(len(lengths)):
        where = np.argwhere(np.isin(layout, np.arange(offsets[u], offsets[u + 1])))
        assert len(set(where[:, 1])) == 1  # one user, one slot
        assert np.all(np.diff(where[:, 0]) == 1)  # consecutive steps
    filled = (layout >= 0).sum(axis=0)
    assert filled.max() - filled.min() <= lengths.max()


def test_bptt_bounds_gradient_flow_and_windows():
    """Gradients never cross a window boundary: the carried states enter each window detached."""
    data = make_data([[[1, 2, 3, 4, 5, 6, 7, 8]]])
    config = TrainConfig(bptt=3, epochs=1, batch_size=1, recency_mask=False, loss="full", seed=0)
    trainer = Trainer.create(ModelConfig(n_items=data.n_items, hidden_dimension=8, dropout=0.0), config)
    seen = []
    original = trainer.model.advance

    def spy(gates, ss, us, h_s, h_u, **engine):
        seen.append((gates.shape[0], int((~us).sum()), h_s.requires_grad, h_u.requires_grad))
        return original(gates, ss, us, h_s, h_u, **engine)

    trainer.model.advance = spy
    steps = []
    original_step = trainer.optimizer.step
    trainer.optimizer.step = lambda *a, **k: (steps.append(1), original_step(*a, **k))
    trainer.train_epoch(data)
    # 8 events in windows of bptt=3; the last window is padded with an empty step (a reset, no target)
    assert [s[0] for s in seen] == [3, 3, 3]
    assert [s[1] for s in seen] == [2, 3, 2]  # events that continue a user: all but the first
    assert all(not rg_s and not rg_u for _, _, rg_s, rg_u in seen)
    assert len(steps) == 3  # one optimiser step per window

    # Within a window the gradient does reach back bptt-1 steps, on either recurrence.
    model = trainer.model
    items = torch.tensor([[1], [2], [3]])
    no_start = torch.zeros(3, 1, dtype=torch.bool)
    for masked in (False, True):
        gates = model.encode(items, torch.zeros(3, 1))
        gates.retain_grad()
        states, _, _ = model.advance(gates, no_start, no_start, *model.initial_state(1, torch.device("cpu")),
                                     masked=masked)
        states[-1].sum().backward()
        assert gates.grad[0].abs().sum() > 0

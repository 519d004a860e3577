"""The whole-window recurrence (one autograd node, hand-written backward through time) against autograd
through the step-by-step masked recurrence, in float64: states and every gradient."""

import numpy as np
import pytest
import torch

from hrnn.model import HRNN, ModelConfig
from hrnn.model.recurrence import Resets, recur_window


@pytest.mark.parametrize("hierarchical", [True, False])
def test_window_recurrence_matches_autograd_through_the_masked_steps(hierarchical):
    torch.manual_seed(0)
    steps, batch, hidden = 7, 6, 5
    model = HRNN(ModelConfig(n_items=10, hidden_dimension=hidden, hierarchical=hierarchical, dropout=0.0)).double()
    rng = np.random.default_rng(1)
    user_start = rng.random((steps, batch)) < 0.15
    session_start = (rng.random((steps, batch)) < 0.35) | user_start
    assert (session_start & ~user_start).sum() > 5 and user_start.sum() > 2
    gates = torch.randn(steps, batch, 3 * hidden, dtype=torch.double, requires_grad=True)
    h_s = torch.randn(batch, hidden, dtype=torch.double, requires_grad=True)
    h_u = torch.randn(batch, hidden, dtype=torch.double, requires_grad=True)
    weights = model.recurrent_weights()
    # An event before a new user has no target: its prediction state is not used, so it gets no weight.
    loss_weight = torch.rand(steps, batch, hidden, dtype=torch.double)
    loss_weight[:-1][torch.from_numpy(user_start[1:])] = 0.0
    ref, ref_s, ref_u = model.advance(gates, torch.from_numpy(session_start), torch.from_numpy(user_start),
                                      h_s, h_u, masked=True)
    mine, mine_s, mine_u = recur_window(gates, Resets.from_masks(session_start, user_start, hierarchical), h_s, h_u,
                                        weights, hierarchical)
    torch.testing.assert_close(mine * loss_weight, ref * loss_weight)
    torch.testing.assert_close(mine_s, ref_s)
    if hierarchical:
        torch.testing.assert_close(mine_u, ref_u)
    inputs = [gates, h_s] + ([h_u] + weights if hierarchical else weights[:2])
    expected = torch.autograd.grad((ref * loss_weight).sum(), inputs)
    got = torch.autograd.grad((mine * loss_weight).sum(), inputs)
    for name, a, b in zip(["gates", "h_s", "h_u", "session_hh.weight", "session_hh.bias", "user_ih.weight",
                           "user_ih.bias", "user_hh.weight", "user_hh.bias", "session_init.weight",
                           "session_init.bias"] if hierarchical else ["gates", "h_s", "w", "b"], got, expected):
        torch.testing.assert_close(a, b, msg=name)
    if not hierarchical:  # the user-level weights take no part
        unused = torch.autograd.grad((recur_window(gates, Resets.from_masks(session_start, user_start, False), h_s,
                                                   h_u, weights, False)[0]).sum(), weights[2:], allow_unused=True)
        assert all(g is None for g in unused)


def test_evaluation_recurrence_indexes_on_the_states_device():
    """Evaluation runs the row-wise recurrence on the trainer's device: its reset indices must be there too
    (the meta device stands in for CUDA; a CPU index on it fails as it would on a GPU)."""
    with torch.device("meta"):
        model = HRNN(ModelConfig(n_items=50, hidden_dimension=8))
    session_start, user_start = np.zeros((4, 3), bool), np.zeros((4, 3), bool)
    session_start[0] = user_start[0] = True
    session_start[2, 1] = True  # a new session of the same user: the user-level GRU runs on that row
    gates, h = torch.empty(4, 3, 24, device="meta"), torch.zeros(3, 8, device="meta")
    with torch.no_grad():
        states, h_s, h_u = model.advance(gates, session_start, user_start, h, h)
    assert states.device.type == h_s.device.type == h_u.device.type == "meta"
    assert states.shape == (4, 3, 8) and h_u.shape == (3, 8)

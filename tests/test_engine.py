"""The training engine: the CUDA code path run on the CPU against the CPU path, the row-wise optimiser,
the fused GRU cell and losses against autograd, slot filling at large batches, evaluation in blocks, the
recommendations' top-k, and the GPU check's smoke run."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hrnn.artifact import top_indices
from hrnn.data import build_interactions
from hrnn.evaluation import HRNNScorer, topk_items
from hrnn.evaluation import protocols
from hrnn.model import HRNN, ModelConfig
from hrnn.model.gru import gru_cell
from hrnn.synth import generate_interactions
from hrnn.training import Engine, EngineSettings, EventTensors, Trainer, TrainConfig, slot_layout
from hrnn.training.layout import slot_fill
from hrnn.training.loss import MASKED, full_softmax_loss, sampled_softmax_loss
from hrnn.training.optim import AdagradM
from hrnn.training.plan import _distinct_rows, guide_table, inverse_cdf
from hrnn.training.window import WindowState, WindowStep

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data():
    return build_interactions(generate_interactions(n_users=200, n_items=120, seed=5))


def _train(data, *, engine, loss, hierarchical=True, negatives=32, momentum=0.0, epochs=1):
    config = TrainConfig(bptt=5, batch_size=16, num_negatives=negatives, loss=loss, seed=1, device="cpu",
                         engine=EngineSettings(kind=engine), momentum=momentum)
    trainer = Trainer.create(ModelConfig(n_items=data.n_items, hidden_dimension=16, dropout=0.0,
                                         hierarchical=hierarchical), config)
    losses = [trainer.train_epoch(data).loss for _ in range(epochs)]
    return losses, trainer


@pytest.mark.parametrize("loss,negatives,hierarchical", [("sampled", 32, True), ("full", 0, True),
                                                         ("sampled", 0, True), ("sampled", 32, False)])
def test_cuda_code_path_on_the_cpu_matches_the_cpu_path(data, loss, negatives, hierarchical):
    """The masked engine (CUDA's: masked recurrence, padded rows, what a CUDA graph captures) computes the
    same training as the row-wise engine (the CPU's), in fp32."""
    cpu_losses, cpu = _train(data, engine="auto", loss=loss, negatives=negatives, hierarchical=hierarchical)
    gpu_losses, gpu = _train(data, engine="masked", loss=loss, negatives=negatives, hierarchical=hierarchical)
    assert cpu.engine == Engine(torch.device("cpu"), masked=False, precision="fp32", cuda_graphs=False,
                                fused_gru=False)
    assert gpu.engine.masked and not gpu.engine.exact_rows and not gpu.engine.cuda_graphs  # no graphs on the CPU
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-5)
    for (name, a), b in zip(cpu.model.named_parameters(), gpu.model.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)


def test_the_engine_is_chosen_once_from_the_settings_and_the_device():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    on_cuda = Engine.choose(EngineSettings(), cuda)
    assert on_cuda.masked and on_cuda.cuda_graphs and on_cuda.fused_gru and on_cuda.name == "masked"
    assert Engine.choose(EngineSettings(), cpu) == Engine(cpu, False, "fp32", False, False)
    eager = Engine.choose(EngineSettings(cuda_graphs=False, fused_gru=False, precision="bf16"), cuda)
    assert eager.masked and not eager.cuda_graphs and not eager.fused_gru and eager.precision == "bf16"
    assert not Engine.choose(EngineSettings(kind="rows"), cuda).masked
    with pytest.raises(ValueError, match="precision 'fp16' is invalid"):
        Engine.choose(EngineSettings(precision="fp16"), cpu)
    with pytest.raises(ValueError, match="kind 'gpu' is invalid"):
        Engine.choose(EngineSettings(kind="gpu"), cpu)


def test_the_service_reads_the_engine_switches_from_its_environment():
    from hrnn.errors import InvalidInputException
    from tuning.run_options import engine_settings

    assert engine_settings({}) == EngineSettings()
    assert engine_settings({"HRNN_PRECISION": "bf16", "HRNN_CUDA_GRAPHS": "0", "HRNN_FUSED_GRU": "0"}) == \
        EngineSettings(precision="bf16", cuda_graphs=False, fused_gru=False)
    with pytest.raises(InvalidInputException, match="HRNN_PRECISION 'fp16' is invalid; expected one of fp32, bf16"):
        engine_settings({"HRNN_PRECISION": "fp16"})


def test_same_seed_gives_bit_identical_training_on_both_engines(data):
    for engine in ("rows", "masked"):
        first = _train(data, engine=engine, loss="sampled", momentum=0.5, epochs=2)
        second = _train(data, engine=engine, loss="sampled", momentum=0.5, epochs=2)
        assert first[0] == second[0]
        for a, b in zip(first[1].model.parameters(), second[1].model.parameters()):
            assert torch.equal(a, b)


def test_a_window_updates_only_the_item_rows_it_touches(data):
    config = TrainConfig(bptt=4, batch_size=8, num_negatives=16, loss="sampled", seed=2, device="cpu", momentum=0.9)
    for kind in ("rows", "masked"):
        trainer = Trainer.create(ModelConfig(n_items=data.n_items + 50, hidden_dimension=8),
                                 dataclasses.replace(config, engine=EngineSettings(kind=kind)))
        model = trainer.model
        tensors = EventTensors.build(data, trainer.config, trainer.device)
        plan = trainer.plan_epoch(data, tensors)
        batch = next(plan.windows())
        before = [t.detach().clone() for t in (model.item_embedding.weight, model.item_bias)]
        state = WindowState.zeros(model, plan.batch, trainer.device)
        WindowStep(model, trainer.optimizer, trainer.engine)(batch, state)
        touched = torch.zeros(model.config.n_items, dtype=torch.bool)
        touched[batch.rows] = True
        for b, a in zip(before, (model.item_embedding.weight, model.item_bias)):
            changed = (a.detach() != b).reshape(len(touched), -1).any(dim=1)
            assert not changed[~touched].any()  # never a row outside the window
            assert changed[touched].float().mean() > 0.9  # (a few touched rows may have a zero gradient)
        acc = trainer.optimizer.state[model.item_embedding.weight]["acc"]
        assert not acc[~touched].any() and acc[touched].any()
        assert not touched[data.n_items:].any()  # the 50 items nobody interacted with are never sampled


def test_row_wise_adagrad_equals_dense_adagrad_without_momentum():
    torch.manual_seed(0)
    table = torch.randn(30, 4)
    grad = torch.zeros(30, 4)
    rows = torch.tensor([2, 5, 7, 11, 29])
    grad[rows] = torch.randn(5, 4)
    dense = table.clone().requires_grad_()
    dense.grad = grad.clone()
    opt = AdagradM([dense], lr=0.1)
    for _ in range(3):
        opt.step()
    sparse = table.clone().requires_grad_()
    opt2 = AdagradM([sparse], lr=0.1)
    for _ in range(3):
        with torch.no_grad():
            opt2.step_rows([sparse], rows, [sparse.detach()[rows].clone()], [grad[rows].clone()])
    assert torch.equal(sparse, dense)
    assert torch.equal(opt2.state[sparse]["acc"], opt.state[dense]["acc"])


def test_row_wise_momentum_moves_only_touched_rows():
    table = torch.zeros(6, 2, requires_grad=True)
    opt = AdagradM([table], lr=0.5, momentum=0.5)
    rows = torch.tensor([1, 4])
    g = torch.ones(2, 2)
    with torch.no_grad():
        opt.step_rows([table], rows, [table.detach()[rows].clone()], [g.clone()])
        opt.step_rows([table], torch.tensor([1]), [table.detach()[[1]].clone()], [torch.ones(1, 2)])
    # row 1: step -0.5/(1 + eps), then momentum 0.5 * that plus -0.5/(sqrt(2) + eps); row 4: only the first step.
    first = -0.5 / (1 + 1e-6)
    second = 0.5 * first - 0.5 / (np.sqrt(2) + 1e-6)
    np.testing.assert_allclose(table.detach()[1].numpy(), [first + second] * 2, rtol=1e-6)
    np.testing.assert_allclose(table.detach()[4].numpy(), [first] * 2, rtol=1e-6)
    assert not table.detach()[[0, 2, 3, 5]].any()


def test_fused_gru_cell_matches_torch_gru_cell_forward_and_backward():
    torch.manual_seed(0)
    cell = torch.nn.GRUCell(5, 4).double()
    x = torch.randn(3, 5, dtype=torch.double)
    h = torch.randn(3, 4, dtype=torch.double, requires_grad=True)
    ref = cell(x, h)
    gi = torch.nn.functional.linear(x, cell.weight_ih, cell.bias_ih)
    mine = gru_cell(gi, h, cell.weight_hh, cell.bias_hh)
    torch.testing.assert_close(mine, ref)
    g_ref = torch.autograd.grad(ref.pow(2).sum(), [h, cell.weight_hh, cell.bias_hh])
    g_mine = torch.autograd.grad(mine.pow(2).sum(), [h, cell.weight_hh, cell.bias_hh])
    for a, b in zip(g_mine, g_ref):
        torch.testing.assert_close(a, b)


def test_losses_and_their_gradients_match_autograds_cross_entropy():
    torch.manual_seed(0)
    T, B, H, U, N = 3, 4, 5, 9, 6
    states = torch.randn(T, B, H, dtype=torch.double, requires_grad=True)
    table = torch.randn(U, H, dtype=torch.double, requires_grad=True)
    bias = torch.randn(U, dtype=torch.double, requires_grad=True)
    targets, negatives = torch.randint(0, U, (T, B)), torch.randint(0, U, (N,))
    target_bias, negative_bias = torch.randn(T, B, dtype=torch.double), torch.randn(N, dtype=torch.double)
    target_bias[0, 1] = MASKED
    weight = torch.rand(T, B, dtype=torch.double)
    weight[0, 1] = 0.0

    def reference(states, table, bias):
        in_batch = torch.einsum("tbh,tch->tbc", states, table[targets]) + (bias[targets] + target_bias).unsqueeze(1)
        sampled = states.reshape(-1, H) @ table[negatives].t() + bias[negatives] + negative_bias
        logits = torch.cat([in_batch.reshape(T * B, B), sampled], 1)
        ce = torch.nn.functional.cross_entropy(logits, torch.arange(B).repeat(T), reduction="none")
        return (ce * weight.reshape(-1)).sum()

    def full_reference(states, table, bias):
        ce = torch.nn.functional.cross_entropy(states.reshape(-1, H) @ table.t() + bias, targets.reshape(-1),
                                               reduction="none")
        return (ce * weight.reshape(-1)).sum()

    for mine, ref in ((lambda s, t, b: sampled_softmax_loss(s, t, b, targets, negatives, target_bias, negative_bias,
                                                             weight), reference),
                      (lambda s, t, b: full_softmax_loss(s, t, b, targets, weight), full_reference)):
        expected = ref(states, table, bias)
        got = mine(states, table, bias)
        torch.testing.assert_close(got, expected)
        for a, b in zip(torch.autograd.grad(got, [states, table, bias]),
                        torch.autograd.grad(expected, [states, table, bias])):
            torch.testing.assert_close(a, b)


def _realistic_lengths(n_users: int, seed: int = 0) -> np.ndarray:
    """History lengths like the generator's (log-normal sessions per user, 2 + geometric events per
    session), cut at the 99th percentile as the service's default filter does."""
    rng = np.random.default_rng(seed)
    sessions = np.minimum(np.ceil(rng.lognormal(np.log(3), 1.0, n_users)), 150).astype(int)
    lengths = np.array([np.minimum(2 + rng.geometric(1 / 4, s), 20).sum() for s in sessions])
    return lengths[lengths <= np.percentile(lengths, 99)]


@pytest.mark.parametrize("batch", [512, 2048])
def test_large_batches_stay_full_on_realistic_data(batch):
    lengths = _realistic_lengths(30_000)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    layout = slot_layout(lengths, offsets, batch, np.random.default_rng(3))
    assert slot_fill(layout) >= 0.9, slot_fill(layout)
    assert np.array_equal(np.sort(layout[layout >= 0]), np.arange(offsets[-1]))  # every event exactly once
    slot_of = np.full(offsets[-1], -1)
    steps, slots = np.nonzero(layout >= 0)
    slot_of[layout[steps, slots]] = slots
    first, last = slot_of[offsets[:-1]], slot_of[offsets[1:] - 1]
    assert np.array_equal(first, last)  # a user never changes slot


def test_evaluation_in_blocks_matches_the_whole_sequences(data, monkeypatch):
    torch.manual_seed(0)
    model = HRNN(ModelConfig(n_items=data.n_items, hidden_dimension=8, dropout=0.0))
    whole = HRNNScorer(model, torch.device("cpu"), chunk=10_000)._run(data, None)
    monkeypatch.setattr(protocols, "BLOCK_STEPS", 3)
    blocks = HRNNScorer(model, torch.device("cpu"), chunk=7)._run(data, None)
    for a, b in zip(whole, blocks):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # The final state of a user is the state after the user's last event, one event at a time.
    with torch.no_grad():
        user = int(np.argmax(data.lengths))
        lo, hi = data.user_offsets[user], data.user_offsets[user + 1]
        items = torch.as_tensor(data.items[lo:hi].astype(np.int64)).unsqueeze(1)
        sub = data.take(np.array([user]))
        gaps = protocols.event_inputs(sub, torch.device("cpu"))[1].unsqueeze(1)
        _, h_s, _ = model.advance(model.encode(items, gaps), torch.as_tensor(sub.session_start_mask()).unsqueeze(1),
                                  torch.as_tensor(sub.user_start_mask()).unsqueeze(1), *model.initial_state(1, "cpu"))
    torch.testing.assert_close(blocks[0][user], h_s[0], rtol=1e-5, atol=1e-6)


def test_block_top_k_equals_full_top_k_with_ties():
    rng = np.random.default_rng(0)
    for trial in range(60):
        n, m, k = int(rng.integers(1, 12)), int(rng.integers(1, 2000)), int(rng.integers(1, 30))
        k = min(k, m)
        scores = torch.as_tensor(rng.normal(size=(n, m)), dtype=torch.float32)
        if trial % 3 == 0:
            scores = torch.round(scores * 2) / 2  # large tie groups
        if trial % 4 == 0:
            scores[:, ::3] = float("-inf")
        if trial % 7 == 0:
            scores[:, 1::5] = float("nan")  # NaN ranks last, as in topk_items
        expected = topk_items(scores, k)
        got = top_indices(scores, k, block=16).numpy()
        finite = np.isfinite(np.take_along_axis(scores.numpy(), expected, 1))
        assert np.array_equal(got[finite], expected[finite]), trial


def test_bf16_training_runs_and_stays_close_to_fp32(data):
    fp32, _ = _train(data, engine="rows", loss="sampled", epochs=2)
    config = TrainConfig(bptt=5, batch_size=16, num_negatives=32, loss="sampled", seed=1, device="cpu",
                         engine=EngineSettings(precision="bf16"))
    trainer = Trainer.create(ModelConfig(n_items=data.n_items, hidden_dimension=16, dropout=0.0), config)
    bf16 = [trainer.train_epoch(data).loss for _ in range(2)]
    np.testing.assert_allclose(bf16, fp32, rtol=2e-2)
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())


@pytest.mark.slow
def test_gpu_check_smoke_runs_on_the_cpu(tmp_path):
    out = tmp_path / "smoke.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--smoke", "--out", str(out),
                           "--skip", "packing"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = __import__("json").loads(out.read_text())
    assert report["status"] == "ok" and len(report["agreement"]) == 3
    assert all(row["events_per_second"] > 0 for row in report["throughput"])
    assert [m["items"] for m in report["memory"]] == [2_000, 200_000]


def test_negative_sampling_by_guide_table_equals_binary_search():
    torch.manual_seed(0)
    for n in (1, 2, 7, 300):
        for power in (1, 11):
            weights = torch.rand(n, dtype=torch.float64) ** power
            if n > 3:
                weights[::3] = 0.0  # never-drawn items: repeated cdf values
            cdf = torch.cumsum(weights / weights.sum(), 0)
            u = torch.rand(20_000, dtype=torch.float64)
            u[:n] = cdf  # exactly on a step
            u[n:2 * n] = torch.arange(n, dtype=torch.float64) / n  # exactly on a bucket boundary
            u[-2:] = torch.tensor([0.0, 1.0 - 1e-17])
            expected = torch.searchsorted(cdf, u).clamp(max=n - 1)
            assert torch.equal(inverse_cdf(cdf, guide_table(cdf), u), expected), (n, power)


def test_distinct_rows_per_window():
    lookups = torch.tensor([[5, 3, 5, 9, 3, 3], [0, 0, 0, 0, 0, 0], [7, 1, 4, 2, 8, 6]])
    rows, inverse, n_rows = _distinct_rows(lookups)
    assert n_rows.tolist() == [3, 1, 6]
    assert rows.tolist() == [[3, 5, 9, 9, 9, 9], [0] * 6, [1, 2, 4, 6, 7, 8]]
    assert torch.equal(rows.gather(1, inverse), lookups)


def test_recommendation_scores_round_as_python_does():
    """Scores are rounded by numpy for speed: for float32 scores that is exactly Python's round(x, 7),
    halfway cases (odd multiples of 1/256: x * 1e7 ends in .5) included."""
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.random(20_000), rng.random(2_000) ** 12, np.arange(1, 512, 2) / 256.0 / 2,
                             np.arange(1, 256, 2) / 256.0, [0.0, 1.0, 1e-45]]).astype(np.float32)
    rounded = np.round(scores.astype(np.float64), 7).tolist()
    assert rounded == [round(x, 7) for x in scores.astype(np.float64).tolist()]

"""Tests for hrnn.metrics: the service's GetSolutionMetrics values and the next-item metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hrnn.evaluation.metrics import (
    SERVICE_METRIC_NAMES,
    NextItemAccumulator,
    in_sets,
    next_item_metrics,
    ranks_from_scores,
    service_metrics,
    to_csr,
    topk_items,
)

NDCG = "normalized_discounted_cumulative_gain_at_"


def _d(position: int) -> float:
    """Discount of a 1-based position: 1 / log2(1 + position)."""
    return 1.0 / math.log2(1 + position)


def _list(start: int, n: int = 25) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int64)


def _metrics(rows, relevant, n_catalog=1000):
    offsets, items = to_csr(relevant)
    return service_metrics(np.stack(rows), offsets, items, n_catalog)


# ---------------------------------------------------------------------------------------------------------
# service metrics: documented worked examples
# ---------------------------------------------------------------------------------------------------------


def test_keys_and_order():
    m = _metrics([_list(0)], [[3]])
    assert tuple(m) == SERVICE_METRIC_NAMES
    assert len(SERVICE_METRIC_NAMES) == 8
    assert all(isinstance(v, float) for v in m.values())


def test_docs_ndcg_at_5_example():
    # Relevant items at ranks 2 and 5 (items 1 and 4 of the list 0..24), two relevant items:
    # (1/log(3) + 1/log(6)) / (1/log(2) + 1/log(3)) = 0.6241.
    m = _metrics([_list(0)], [[1, 4]])
    assert round(m[NDCG + "5"], 4) == 0.6241
    # Only two relevant items, both in the top 5: the same value at K = 10 and 25.
    assert m[NDCG + "10"] == pytest.approx(m[NDCG + "5"])
    assert m[NDCG + "25"] == pytest.approx(m[NDCG + "5"])


def test_docs_mrr_example():
    # First relevant items at ranks 4, 2 and 6: (1/4 + 1/2 + 1/6) / 3 = 0.3056.
    m = _metrics([_list(0)] * 3, [[3], [1, 20], [5]])
    assert round(m["mean_reciprocal_rank_at_25"], 4) == 0.3056


def test_docs_precision_example():
    # 2 relevant in the top 5 -> 2/5 = 0.4; divisor is always K: 2/10, 2/25.
    m = _metrics([_list(0)], [[1, 4]])
    assert m["precision_at_5"] == pytest.approx(0.4)
    assert m["precision_at_10"] == pytest.approx(0.2)
    assert m["precision_at_25"] == pytest.approx(0.08)


def test_coverage_hand_computed():
    # Lists 0..24 and 10..34 -> 35 unique items; catalog of 100 -> 0.35.
    m = _metrics([_list(0), _list(10)], [[0], [0]], n_catalog=100)
    assert m["coverage"] == pytest.approx(0.35)
    # Padding (-1) is not an item: list 0..19 + 5 pads and 0..24 -> 25 unique -> 0.25.
    padded = np.concatenate([_list(0, 20), np.full(5, -1)])
    m = _metrics([padded, _list(0)], [[0], [0]], n_catalog=100)
    assert m["coverage"] == pytest.approx(0.25)


def test_only_first_25_columns_are_used():
    wide = np.concatenate([_list(0), [500, 501]])  # 27 columns; items 500/501 are relevant but past 25
    m = _metrics([wide], [[500, 501]], n_catalog=1000)
    assert m["mean_reciprocal_rank_at_25"] == 0.0
    assert m["precision_at_25"] == 0.0
    assert m["coverage"] == pytest.approx(25 / 1000)


def test_no_hit_user_scores_zero():
    m = _metrics([_list(0)], [[999]])
    for name in SERVICE_METRIC_NAMES[1:]:
        assert m[name] == 0.0


def test_hits_are_per_user():
    # Item 5 is relevant for user 1 but only user 0 recommends it.
    hits = in_sets(np.stack([_list(0), _list(100)]), *to_csr([[], [5]]))
    assert not hits.any()


def test_relevant_set_larger_than_k():
    # Six relevant items; the list hits ranks 1 and 6 (items 0 and 5), the other four are not in the top 25.
    # NDCG@5  = 1/log2(2) / sum_{p=1..5} 1/log2(1+p)                     = 0.33916
    # NDCG@10 = (1/log2(2) + 1/log2(7)) / sum_{p=1..6} 1/log2(1+p)        = 0.41039  (IDCG uses min(6, 10) = 6)
    # NDCG@25 = same as @10 (no further hits, IDCG still 6 positions)
    m = _metrics([_list(0)], [[0, 5, 900, 901, 902, 903]])
    assert m[NDCG + "5"] == pytest.approx(_d(1) / sum(_d(p) for p in range(1, 6)))
    assert m[NDCG + "5"] == pytest.approx(0.33916, abs=1e-5)
    assert m[NDCG + "10"] == pytest.approx(0.41039, abs=1e-5)
    assert m[NDCG + "25"] == pytest.approx(0.41039, abs=1e-5)
    assert m["precision_at_5"] == pytest.approx(1 / 5)
    assert m["precision_at_10"] == pytest.approx(2 / 10)
    # All 25 positions relevant out of 30 relevant items -> NDCG 1 and precision 1 at every K.
    m = _metrics([_list(0)], [list(range(30))])
    for k in (5, 10, 25):
        assert m[NDCG + str(k)] == pytest.approx(1.0)
        assert m[f"precision_at_{k}"] == pytest.approx(1.0)
    assert m["mean_reciprocal_rank_at_25"] == 1.0


def test_duplicates_in_relevant_set_count_once():
    dup = _metrics([_list(0)], [[1, 1, 4, 4, 4]])
    ref = _metrics([_list(0)], [[1, 4]])
    assert dup == ref  # |relevant| = 2 for the ideal DCG, not 5
    assert round(dup[NDCG + "5"], 4) == 0.6241
    hits = in_sets(_list(0)[None, :], *to_csr([[4, 4, 1]]))
    assert hits.sum() == 2 and hits[0, 1] and hits[0, 4]


def test_three_users_hand_computed():
    # User A: list 0..24, relevant {0}       -> hit at rank 1.
    # User B: list 20..44, relevant {22, 31, 150} -> hits at rank 3 (22) and rank 12 (31); 150 never recommended.
    # User C: list 100..124, relevant {5}    -> no hit (item 5 is only in A's list).
    # coverage = |0..44 ∪ 100..124| / 200 = 70 / 200 = 0.35
    # MRR@25   = (1 + 1/3 + 0) / 3 = 0.444444
    # B's IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4) = 2.130930 (3 relevant, K >= 3)
    # B NDCG@5 = NDCG@10 = (1/log2(4)) / 2.130930 = 0.234639; B NDCG@25 = (1/log2(4) + 1/log2(13)) / 2.130930 = 0.361456
    # NDCG@5 = NDCG@10 = (1 + 0.234639 + 0) / 3 = 0.411546; NDCG@25 = (1 + 0.361456) / 3 = 0.453819
    # P@5  = (1/5 + 1/5 + 0) / 3 = 0.133333;  P@10 = (1/10 + 1/10) / 3 = 0.066667;  P@25 = (1/25 + 2/25) / 3 = 0.04
    m = _metrics([_list(0), _list(20), _list(100)], [[0], [22, 31, 150], [5]], n_catalog=200)
    expected = {
        "coverage": 0.35,
        "mean_reciprocal_rank_at_25": 0.444444,
        NDCG + "5": 0.411546,
        NDCG + "10": 0.411546,
        NDCG + "25": 0.453819,
        "precision_at_5": 0.133333,
        "precision_at_10": 0.066667,
        "precision_at_25": 0.04,
    }
    for name, value in expected.items():
        assert m[name] == pytest.approx(value, abs=1e-6), name


def test_in_sets_matches_python_sets():
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 60
    top = np.stack([rng.permutation(n_items)[:25] for _ in range(n_users)])
    relevant = [rng.integers(0, n_items, size=rng.integers(0, 8)).tolist() for _ in range(n_users)]
    hits = in_sets(top, *to_csr(relevant))
    expected = np.array([[item in set(rel) for item in row] for row, rel in zip(top, relevant)])
    np.testing.assert_array_equal(hits, expected)


def test_service_metrics_input_checks():
    offsets, items = to_csr([[1]])
    with pytest.raises(ValueError, match="25"):
        service_metrics(_list(0, 10)[None, :], offsets, items, 100)
    with pytest.raises(ValueError, match="more than once"):
        service_metrics(np.concatenate([[1, 1], _list(2, 23)])[None, :], offsets, items, 100)
    with pytest.raises(ValueError, match="n_catalog_items"):
        service_metrics(_list(0)[None, :], offsets, items, 10)
    with pytest.raises(ValueError, match="relevant_offsets"):
        service_metrics(_list(0)[None, :], np.array([0, 2]), items, 100)
    with pytest.raises(ValueError, match="at least one user"):
        service_metrics(np.zeros((0, 25), dtype=np.int64), np.array([0]), np.array([], dtype=np.int64), 100)


# ---------------------------------------------------------------------------------------------------------
# topk_items
# ---------------------------------------------------------------------------------------------------------


def _reference_topk(scores: np.ndarray, k: int) -> np.ndarray:
    # Sort by (-score, index): np.lexsort uses the last key as primary.
    n_items = scores.shape[1]
    idx = np.arange(n_items)
    return np.stack([np.lexsort((idx, -row))[:k] for row in scores])


def test_topk_ties_broken_by_lower_index():
    scores = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(topk_items(scores, 3), [[1, 2, 4], [0, 1, 2]])
    np.testing.assert_array_equal(topk_items(scores, 4), [[1, 2, 4, 3], [0, 1, 2, 3]])


def test_topk_large_tie_groups_use_fallback_and_are_deterministic():
    # Constant rows (tie group of the whole catalog) and coarsely quantised random scores.
    rng = np.random.default_rng(1)
    quantised = np.round(rng.random((30, 500)) * 4) / 4  # 5 distinct values -> huge tie groups
    scores = np.concatenate([np.zeros((2, 500)), quantised]).astype(np.float32)
    s = torch.from_numpy(scores)
    out = topk_items(s, 25)
    assert out.dtype == np.int64 and out.shape == (32, 25)
    np.testing.assert_array_equal(out, _reference_topk(scores, 25))
    np.testing.assert_array_equal(out[0], np.arange(25))
    # Repeatable, and the same when the rows come in another order (the tie order depends only on indices).
    np.testing.assert_array_equal(topk_items(s.clone(), 25), out)
    perm = torch.from_numpy(rng.permutation(32))
    np.testing.assert_array_equal(topk_items(s[perm], 25), out[perm.numpy()])


def test_topk_no_ties_matches_torch_topk():
    torch.manual_seed(0)
    s = torch.randn(8, 300)
    np.testing.assert_array_equal(topk_items(s, 25), torch.topk(s, 25).indices.numpy())


def test_topk_exclude_mask_and_csr():
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, 0] = True
    mask[1, [4, 3]] = True
    expected = [[1, 2, 3], [2, 1, 0]]
    np.testing.assert_array_equal(topk_items(scores, 3, exclude=mask), expected)
    np.testing.assert_array_equal(topk_items(scores, 3, exclude=to_csr([[0], [4, 3]])), expected)
    # Fewer than k items left after exclusion -> -1 padding.
    out = topk_items(scores, 5, exclude=mask)
    np.testing.assert_array_equal(out, [[1, 2, 3, 4, -1], [2, 1, 0, -1, -1]])


def test_topk_k_larger_than_catalog_pads():
    out = topk_items(torch.tensor([[0.1, 0.3, 0.2]]), 5)
    np.testing.assert_array_equal(out, [[1, 2, 0, -1, -1]])


def test_topk_nan_is_lowest():
    out = topk_items(torch.tensor([[float("nan"), 0.5, 0.7]]), 2)
    np.testing.assert_array_equal(out, [[2, 1]])


def test_topk_output_feeds_service_metrics():
    scores = torch.zeros(2, 10)  # all tied -> items 0..9 then 15 pads
    top = topk_items(scores, 25)
    m = service_metrics(top, *to_csr([[0], [9]]), 10)
    assert m["coverage"] == pytest.approx(1.0)
    assert m["mean_reciprocal_rank_at_25"] == pytest.approx((1 + 1 / 10) / 2)


# ---------------------------------------------------------------------------------------------------------
# next-item ranks and metrics
# ---------------------------------------------------------------------------------------------------------


def test_ranks_with_ties():
    scores = torch.tensor(
        [
            [0.5, 0.9, 0.5, 0.1, 0.5],  # target 0: 1 higher, 2 other ties -> opt 2, pes 4
            [0.5, 0.9, 0.5, 0.1, 0.5],  # target 1: unique top -> opt 1, pes 1
            [0.5, 0.9, 0.5, 0.1, 0.5],  # target 3: 4 higher, no tie -> opt 5, pes 5
            [1.0, 1.0, 1.0, 1.0, 1.0],  # target 2: all tied -> opt 1, pes 5
        ]
    )
    targets = torch.tensor([0, 1, 3, 2])
    opt, pes = ranks_from_scores(scores, targets)
    assert opt.dtype == torch.int64 and pes.dtype == torch.int64
    assert opt.tolist() == [2, 1, 5, 1]
    assert pes.tolist() == [4, 1, 5, 5]
    # The difference is exactly the number of other items tied with the target.
    ties = (scores == scores.gather(1, targets[:, None])).sum(1) - 1
    assert (pes - opt).tolist() == ties.tolist()


def test_ranks_random_against_python():
    rng = np.random.default_rng(2)
    scores = np.round(rng.random((20, 40)) * 5) / 5
    targets = rng.integers(0, 40, 20)
    opt, pes = ranks_from_scores(torch.from_numpy(scores), torch.from_numpy(targets))
    for i, t in enumerate(targets):
        assert opt[i] == 1 + sum(scores[i] > scores[i, t])
        assert pes[i] == sum(scores[i] >= scores[i, t])


def test_ranks_checks():
    with pytest.raises(ValueError, match="NaN"):
        ranks_from_scores(torch.tensor([[float("nan"), 1.0]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="targets"):
        ranks_from_scores(torch.zeros(1, 3), torch.tensor([3]))


def test_next_item_metrics_hand_example():
    # optimistic [1, 3, 7, 25], pessimistic [2, 3, 12, 25]
    # opt: R@5 = 2/4; MRR@5 = (1 + 1/3)/4 = 0.333333; R@10 = R@20 = 3/4; MRR@10 = MRR@20 = (1 + 1/3 + 1/7)/4 = 0.369048
    # pes: R@5 = R@10 = 2/4; MRR@5 = MRR@10 = (1/2 + 1/3)/4 = 0.208333;
    #      R@20 = 3/4; MRR@20 = (1/2 + 1/3 + 1/12)/4 = 0.229167
    m = next_item_metrics(np.array([1, 3, 7, 25]), np.array([2, 3, 12, 25]))
    expected = {
        "recall_at_5": 0.5,
        "mrr_at_5": 0.333333,
        "recall_at_10": 0.75,
        "mrr_at_10": 0.369048,
        "recall_at_20": 0.75,
        "mrr_at_20": 0.369048,
        "recall_at_5_pessimistic": 0.5,
        "mrr_at_5_pessimistic": 0.208333,
        "recall_at_10_pessimistic": 0.5,
        "mrr_at_10_pessimistic": 0.208333,
        "recall_at_20_pessimistic": 0.75,
        "mrr_at_20_pessimistic": 0.229167,
    }
    assert set(m) == set(expected) | {"n_events"}
    assert m["n_events"] == 4
    for name, value in expected.items():
        assert m[name] == pytest.approx(value, abs=1e-6), name


def test_next_item_metrics_empty_and_custom_ks():
    m = next_item_metrics(np.array([], dtype=np.int64), np.array([], dtype=np.int64), ks=(1,))
    assert m == {
        "recall_at_1": 0.0,
        "mrr_at_1": 0.0,
        "recall_at_1_pessimistic": 0.0,
        "mrr_at_1_pessimistic": 0.0,
        "n_events": 0,
    }
    with pytest.raises(ValueError):
        next_item_metrics(np.array([1]), np.array([1, 2]))


def test_accumulator_streams_batches():
    torch.manual_seed(3)
    scores = torch.round(torch.rand(50, 30) * 4)  # ties
    targets = torch.randint(0, 30, (50,))
    acc = NextItemAccumulator(ks=(1, 5, 10))
    acc.add(scores[:20], targets[:20])
    acc.add(scores[20:], targets[20:])
    assert acc.n_events == 50
    opt, pes = ranks_from_scores(scores, targets)
    assert acc.result() == next_item_metrics(opt.numpy(), pes.numpy(), ks=(1, 5, 10))
    assert acc.result()["recall_at_10_pessimistic"] <= acc.result()["recall_at_10"]
    assert acc.result()["mrr_at_5_pessimistic"] <= acc.result()["mrr_at_5"]
    acc.reset()
    assert acc.result()["n_events"] == 0

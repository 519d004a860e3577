"""The service's user split (test / HPO validation) and the next-item time split."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from hrnn.data import DataConfig, InteractionData, build_interactions
from hrnn.data.splits import HPOSplits, ServiceSplit, UserHoldout, hpo_splits, next_item_split, service_split

NO_MIN = DataConfig(check_minimums=False, max_user_history_length_percentile=1.0)


def make_data(rows: list[tuple[str, str, int]]) -> InteractionData:
    users, items, times = zip(*rows)
    return build_interactions(pa.table({"USER_ID": users, "ITEM_ID": items, "TIMESTAMP": times}), NO_MIN)


def users_with_lengths(lengths: list[int]) -> InteractionData:
    rows = [(f"u{k}", f"i{j}", 1000 * k + j) for k, n in enumerate(lengths) for j in range(n)]
    return make_data(rows)


def seq_of(data: InteractionData, user: str) -> int:
    return int(np.flatnonzero(data.seq_users == data.user_index(user))[0])


def item_strings(data: InteractionData, items: np.ndarray) -> list[str]:
    return [data.item_ids[i].as_py() for i in items]


@pytest.fixture(scope="module")
def many_users() -> InteractionData:
    rng = np.random.default_rng(0)
    lengths = list(rng.integers(1, 30, 600)) + [1] * 100  # 100+ users with a single interaction
    return users_with_lengths(lengths)


# ---- the service split ------------------------------------------------------------------------------

def test_service_split_is_seeded(many_users):
    a, b = service_split(many_users, seed=7), service_split(many_users, seed=7)
    assert np.array_equal(a.holdout.users, b.holdout.users) and np.array_equal(a.holdout.cuts, b.holdout.cuts)
    c = service_split(many_users, seed=8)
    assert not np.array_equal(a.holdout.users, c.holdout.users)


def test_service_split_holds_out_ten_percent_of_users_with_two(many_users):
    split = service_split(many_users, seed=1)
    lengths = many_users.lengths
    eligible = int(np.count_nonzero(lengths >= 2))
    assert len(split.holdout.users) == round(0.1 * eligible)
    assert (lengths[split.holdout.users] >= 2).all()
    everyone = np.concatenate([split.train, split.holdout.users])
    assert np.array_equal(np.sort(everyone), np.arange(many_users.n_sequences))  # disjoint and covering
    assert (lengths[split.train] == 1).sum() == (lengths == 1).sum()  # single-interaction users train


@pytest.mark.parametrize("length, n_relevant", [(2, 1), (10, 1), (11, 2), (25, 3), (30, 3), (31, 4)])
def test_newest_ceil_ten_percent_are_relevant(length, n_relevant):
    data = users_with_lengths([5, length, 3])
    k = seq_of(data, "u1")
    split = service_split(data, seed=0, among=np.array([k]))
    assert split.holdout.users.tolist() == [k]
    holdout = split.holdout
    inputs = holdout.inputs(data)
    offsets, relevant = holdout.relevant(data)
    assert offsets.tolist() == [0, n_relevant]
    assert inputs.n_events == length - n_relevant
    # u1's items are i0..i{length-1} in time order: the newest are relevant, the older are the input
    assert item_strings(data, relevant) == [f"i{j}" for j in range(length - n_relevant, length)]
    assert item_strings(data, inputs.items) == [f"i{j}" for j in range(length - n_relevant)]
    assert inputs.seq_users.tolist() == [data.user_index("u1")]


def test_hpo_validation_is_the_newest_interactions_of_training_users(many_users):
    splits = hpo_splits(many_users, seed=3)
    assert isinstance(splits, HPOSplits)
    test, validation, train = splits.test.users, splits.validation.users, splits.train
    assert not set(test) & set(train) and set(validation) <= set(train)  # no trial sees a test user
    assert sorted(np.concatenate([test, train]).tolist()) == list(range(many_users.n_sequences))
    outer = service_split(many_users, seed=3)
    assert np.array_equal(outer.holdout.users, test)
    eligible_train = outer.train[many_users.lengths[outer.train] >= 2]
    assert np.array_equal(validation, eligible_train)  # fewer than VALIDATION_USERS: every one of them
    # Trials train on everything of the training users but the validation part: their newest ceil(10%).
    trained = splits.training_data(many_users)
    assert trained.n_sequences == len(train)
    lengths = many_users.lengths[validation]
    held = np.clip(np.ceil(0.1 * lengths - 1e-9).astype(int), 1, lengths - 1)
    assert np.array_equal(splits.validation.cuts, many_users.user_offsets[validation + 1] - held)
    assert trained.n_events == many_users.lengths[train].sum() - held.sum()
    inputs = splits.validation.inputs(many_users)
    assert np.array_equal(inputs.lengths, lengths - held)
    assert np.array_equal(hpo_splits(many_users, seed=3).validation.users, validation)
    capped = hpo_splits(many_users, seed=3, validation_users=5)
    assert len(capped.validation.users) == 5 and set(capped.validation.users) <= set(eligible_train)


def test_holdout_types():
    data = users_with_lengths([3, 4])
    split = service_split(data, seed=0)
    assert isinstance(split, ServiceSplit) and isinstance(split.holdout, UserHoldout)
    assert len(split.holdout.users) == 1  # at least one test user when any is eligible


# ---- the next-item split ----------------------------------------------------------------------------

def test_next_item_split_hand_made():
    rows = [
        ("A", "a", 100), ("A", "b", 110),                        # A: training session
        ("A", "a", 2000), ("A", "new", 2010), ("A", "b", 2020),  # A: test session, "new" is unseen -> [a, b]
        ("B", "c", 200), ("B", "d", 210),                        # B: training session
        ("B", "c", 3000), ("B", "new2", 3010),                   # B: test session left with 1 event -> dropped
        ("C", "a", 5000), ("C", "b", 5010),                      # C: only a test session, no warm-up
        ("D", "e", 900), ("D", "f", 1500),                       # D: starts before the cut, ends after: train
        ("E", "g", 1000), ("E", "e", 1001),                      # E: starts exactly at the cut: train
    ]
    data = make_data(rows)
    split = next_item_split(data, cut_time=1000)
    assert split.cut_time == 1000

    train = split.train
    assert train.n_sequences == data.n_sequences  # aligned with data; C's sequence is empty
    by_user = {data.user_ids[u].as_py(): item_strings(data, train.items[lo:hi])
               for u, lo, hi in zip(train.seq_users, train.user_offsets[:-1], train.user_offsets[1:])}
    assert by_user == {"A": ["a", "b"], "B": ["c", "d"], "C": [], "D": ["e", "f"], "E": ["g", "e"]}

    test = split.test
    assert [data.user_ids[u].as_py() for u in test.seq_users] == ["A", "C"]
    assert item_strings(data, test.items) == ["a", "b", "a", "b"]
    assert test.times.tolist() == [2000, 2020, 5000, 5010]
    assert test.session_offsets.tolist() == [0, 2, 4]

    warmup = split.warmup
    assert warmup.seq_users.tolist() == test.seq_users.tolist()
    assert warmup.lengths.tolist() == [2, 0]
    assert item_strings(data, warmup.items) == ["a", "b"]


def test_next_item_split_default_cut_and_invariants():
    rng = np.random.default_rng(4)
    rows, t = [], 0
    for k in range(300):
        t = int(rng.integers(0, 10_000))
        for j in range(int(rng.integers(1, 25))):
            t += int(rng.choice([60, 4000]))  # sessions of a few events, an hour apart
            rows.append((f"u{k}", f"i{rng.integers(0, 60)}", t))
    data = make_data(rows)
    split = next_item_split(data, test_fraction=0.2)
    starts = data.times[data.session_offsets[:-1]]
    assert split.cut_time in set(starts.tolist())
    assert np.mean(starts > split.cut_time) <= 0.2
    test, train = split.test, split.train
    assert (test.times[test.session_offsets[:-1]] > split.cut_time).all()
    assert (train.times[train.session_offsets[:-1]] <= split.cut_time).all()
    assert (np.diff(test.session_offsets) >= 2).all()
    assert np.isin(test.items, train.items).all()
    session_len = np.diff(data.session_offsets)
    assert train.n_events == session_len[starts <= split.cut_time].sum()
    assert 0 < test.n_events <= session_len[starts > split.cut_time].sum()
    assert np.array_equal(split.warmup.seq_users, test.seq_users)

"""Filtering, history-length percentiles, id maps, sessions, minimums, save/load and subsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hrnn.data import (
    MIN_INTERACTIONS,
    MIN_USERS_WITH_TWO,
    DataConfig,
    InteractionData,
    build_interactions,
    load_dataset,
    load_interactions,
    ranges_to_index,
    save_dataset,
)
from hrnn.errors import InvalidInputException

NO_MIN = dict(check_minimums=False, max_user_history_length_percentile=1.0)


def write_csv(tmp_path: Path, rows: list[tuple], name: str = "i.csv",
              header: str = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE") -> Path:
    path = tmp_path / name
    lines = [header] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def enough_rows(n_users: int = 40, per_user: int = 30, t0: int = 1_700_000_000) -> list[tuple]:
    """n_users * per_user rows, one event a minute per user, items cycling; event type alternates."""
    rows = []
    for u in range(n_users):
        for k in range(per_user):
            kind = "click" if k % 3 else "purchase"
            value = round(0.1 * (k % 10), 1)
            rows.append((f"user{u:03d}", f"item{(u + k) % 17}", t0 + 60 * k + u, kind, value))
    return rows


def events_of(data: InteractionData, user: str) -> list[tuple[str, int]]:
    """(item id, time) of a user's events in the dataset's order."""
    k = int(np.flatnonzero(data.seq_users == data.user_index(user))[0])
    lo, hi = data.user_offsets[k], data.user_offsets[k + 1]
    items = data.item_ids.to_pylist()
    return [(items[i], int(t)) for i, t in zip(data.items[lo:hi], data.times[lo:hi])]


def sessions_of(data: InteractionData, user: str) -> list[list[str]]:
    k = int(np.flatnonzero(data.seq_users == data.user_index(user))[0])
    lo, hi = data.user_offsets[k], data.user_offsets[k + 1]
    cuts = [s for s in data.session_offsets if lo <= s <= hi]
    items = data.item_ids.to_pylist()
    return [[items[i] for i in data.items[a:b]] for a, b in zip(cuts[:-1], cuts[1:])]


# ---- filters ----------------------------------------------------------------------------------------

def test_event_type_and_value_threshold(tmp_path):
    rows = [
        ("u1", "a", 1, "click", 0.5),
        ("u1", "b", 2, "purchase", 3.0),
        ("u1", "c", 3, "click", None),
        ("u1", "d", 4, "click", 0.2),
        ("u2", "e", 5, "click", 0.7),
        ("u2", "f", 6, "view", 9.0),
    ]
    path = write_csv(tmp_path, rows)
    only_clicks = load_interactions(path, DataConfig(event_type="click", **NO_MIN))
    assert sorted(only_clicks.item_ids.to_pylist()) == ["a", "c", "d", "e"]
    assert only_clicks.n_events == 4
    at_least = load_interactions(path, DataConfig(event_value_threshold=0.5, **NO_MIN))
    # >= keeps 0.5 exactly; the null value is dropped
    assert sorted(at_least.item_ids[i].as_py() for i in at_least.items) == ["a", "b", "e", "f"]
    both = load_interactions(path, DataConfig(event_type="click", event_value_threshold=0.5, **NO_MIN))
    assert sorted(both.item_ids[i].as_py() for i in both.items) == ["a", "e"]
    # ids that no kept event uses are not in the maps
    assert both.n_items == 2 and both.n_users == 2


def test_event_type_that_leaves_no_rows_lists_present_types(tmp_path):
    path = write_csv(tmp_path, [("u1", "a", 1, "click", 1), ("u1", "b", 2, "purchase", 1)])
    with pytest.raises(InvalidInputException) as info:
        load_interactions(path, DataConfig(event_type="Click"))
    message = info.value.message
    assert "'Click'" in message and "'click'" in message and "'purchase'" in message and str(path) in message


def test_filters_need_their_columns(tmp_path):
    path = write_csv(tmp_path, [("u1", "a", 1)], header="USER_ID,ITEM_ID,TIMESTAMP")
    with pytest.raises(InvalidInputException, match="EVENT_TYPE"):
        load_interactions(path, DataConfig(event_type="click"))
    with pytest.raises(InvalidInputException, match="EVENT_VALUE"):
        load_interactions(path, DataConfig(event_value_threshold=1))


def test_history_length_percentiles_hand_computed(tmp_path):
    # The p-th percentile is the smallest length L with at least a fraction p of users at or below L.
    # 100 users with 2 interactions and one with 50: 100/101 = 0.990 >= 0.99, so the 0.99 percentile is 2
    # and the default [0.0, 0.99] drops the 50-interaction user.
    rows = [(f"u{n}", f"i{k}", 10 * n + k, "click", 1) for n in range(100) for k in range(2)]
    rows += [("heavy", f"i{k % 7}", 5000 + k, "click", 1) for k in range(50)]
    data = load_interactions(write_csv(tmp_path, rows, "a.csv"), DataConfig(check_minimums=False))
    assert data.n_users == 100 and "heavy" not in data.user_ids.to_pylist() and data.n_events == 200

    # users with 1, 2, ..., 9 and 100 interactions (10 users; F(L) = share of users with length <= L)
    lengths = list(range(1, 10)) + [100]
    rows = [(f"u{n}", f"i{k % 5}", 1000 * n + k, "click", 1) for n in lengths for k in range(n)]
    path = write_csv(tmp_path, rows, "b.csv")
    # default: F(9) = 0.9 < 0.99 <= F(100) -> the bound is 100: one user is more than 1%, nobody is dropped
    data = load_interactions(path, DataConfig(check_minimums=False))
    assert data.n_users == 10 and data.n_events == sum(lengths)
    # [0.15, 0.85]: F(1) = 0.1 < 0.15 <= F(2) -> 2; F(8) = 0.8 < 0.85 <= F(9) -> 9: lengths 2..9 stay
    data = load_interactions(path, DataConfig(min_user_history_length_percentile=0.15,
                                              max_user_history_length_percentile=0.85, check_minimums=False))
    assert sorted(data.user_ids.to_pylist()) == sorted(f"u{n}" for n in range(2, 10))
    # [0.1, 0.9]: F(1) = 0.1 -> 1 and F(9) = 0.9 -> 9: only u100 is dropped
    data = load_interactions(path, DataConfig(min_user_history_length_percentile=0.1,
                                              max_user_history_length_percentile=0.9, check_minimums=False))
    assert sorted(data.user_ids.to_pylist()) == sorted(f"u{n}" for n in range(1, 10))
    # [0, 0] keeps only the shortest history; [1, 1] only the longest
    data = load_interactions(path, DataConfig(min_user_history_length_percentile=0.0,
                                              max_user_history_length_percentile=0.0, check_minimums=False))
    assert data.user_ids.to_pylist() == ["u1"]
    data = load_interactions(path, DataConfig(min_user_history_length_percentile=1.0,
                                              max_user_history_length_percentile=1.0, check_minimums=False))
    assert data.user_ids.to_pylist() == ["u100"]


def test_percentiles_count_history_after_event_filters(tmp_path):
    # u_big has 50 views and 2 clicks: with eventType=click its history length is 2
    rows = [("u_big", f"v{k}", k, "view", 1) for k in range(50)]
    rows += [("u_big", "c1", 100, "click", 1), ("u_big", "c2", 101, "click", 1)]
    rows += [(f"u{n}", "c1", 200 + n, "click", 1) for n in range(5) for _ in range(3)]
    path = write_csv(tmp_path, rows)
    # clicks: lengths [2, 3, 3, 3, 3, 3]; the 0.8 percentile is 3, so u_big stays
    data = load_interactions(path, DataConfig(event_type="click", max_user_history_length_percentile=0.8,
                                              check_minimums=False))
    assert "u_big" in data.user_ids.to_pylist()
    # all events: lengths [52, 3, 3, 3, 3, 3]; F(3) = 5/6 >= 0.8, so u_big (52) is dropped
    data = load_interactions(path, DataConfig(max_user_history_length_percentile=0.8, check_minimums=False))
    assert "u_big" not in data.user_ids.to_pylist() and data.n_users == 5


# ---- ordering and sessions --------------------------------------------------------------------------

def test_events_sorted_by_time_ties_keep_file_order(tmp_path):
    rows = [
        ("u1", "late", 500, "click", 1),
        ("u2", "x", 10, "click", 1),
        ("u1", "tie_first", 100, "click", 1),
        ("u1", "early", 50, "click", 1),
        ("u1", "tie_second", 100, "click", 1),
        ("u1", "tie_third", 100, "click", 1),
    ]
    data = load_interactions(write_csv(tmp_path, rows), DataConfig(**NO_MIN))
    assert events_of(data, "u1") == [("early", 50), ("tie_first", 100), ("tie_second", 100), ("tie_third", 100),
                                     ("late", 500)]
    assert events_of(data, "u2") == [("x", 10)]


def test_sort_is_stable_on_large_random_input():
    rng = np.random.default_rng(5)
    n = 20_000
    users = rng.integers(0, 300, n)
    times = rng.integers(0, 50, n)  # many ties
    table = pa.table({"USER_ID": [f"u{u}" for u in users], "ITEM_ID": [f"i{k}" for k in range(n)], "TIMESTAMP": times})
    data = build_interactions(table, DataConfig(**NO_MIN))
    got = np.array([int(s[1:]) for s in np.asarray(data.item_ids.to_pylist(), object)[data.items]])
    expected = np.lexsort((np.arange(n), times, users))  # file order breaks ties
    # sequences follow user code order (first appearance); compare per user
    order_users = np.asarray(data.user_ids.to_pylist(), object)[data.users]
    for user in ("u0", "u17", "u299"):
        assert list(got[order_users == user]) == [k for k in expected if f"u{users[k]}" == user]
    assert (np.diff(data.times)[~data.user_start_mask()[1:]] >= 0).all()


@pytest.mark.parametrize("span", [5, 2**40, 2**52, 2**61, "presorted"])
def test_sort_paths_agree(span):
    # small spans use packed value sorts; huge ones fall back to a stable argsort or lexsort; input already
    # in time order skips the first sort
    rng = np.random.default_rng(7)
    n = 5000
    users = rng.integers(0, 40, n)
    times = np.sort(rng.integers(0, 100, n)) if span == "presorted" else rng.integers(0, span, n)
    table = pa.table({"USER_ID": [f"u{u}" for u in users], "ITEM_ID": [f"i{k}" for k in range(n)],
                      "TIMESTAMP": times})
    data = build_interactions(table, DataConfig(**NO_MIN))
    got = np.array([int(s[1:]) for s in np.asarray(data.item_ids.to_pylist(), object)[data.items]])
    codes = np.array([data.user_index(f"u{u}") for u in users])
    assert np.array_equal(got, np.lexsort((np.arange(n), times, codes)))


def test_session_cut_strictly_above_timeout(tmp_path):
    t = 1_000_000
    rows = [
        ("u1", "a", t, "click", 1),
        ("u1", "b", t + 1800, "click", 1),  # exactly 30 min: same session
        ("u1", "c", t + 1800 + 1801, "click", 1),  # 30 min 1 s: new session
        ("u1", "d", t + 1800 + 1801 + 60, "click", 1),
        ("u2", "e", t + 5, "click", 1),  # a new user always starts a session
    ]
    path = write_csv(tmp_path, rows)
    data = load_interactions(path, DataConfig(**NO_MIN))
    assert sessions_of(data, "u1") == [["a", "b"], ["c", "d"]]
    assert sessions_of(data, "u2") == [["e"]]
    assert data.n_sessions == 3
    # a custom timeout of 1 minute: 60 s stays, 1800 s splits
    data = load_interactions(path, DataConfig(session_timeout_minutes=1, **NO_MIN))
    assert sessions_of(data, "u1") == [["a"], ["b"], ["c", "d"]]
    data = load_interactions(path, DataConfig(session_timeout_minutes=0.5, **NO_MIN))
    assert sessions_of(data, "u1") == [["a"], ["b"], ["c"], ["d"]]


# ---- minimums ---------------------------------------------------------------------------------------

def test_minimums_met_exactly(tmp_path):
    rows = enough_rows(n_users=MIN_USERS_WITH_TWO, per_user=MIN_INTERACTIONS // MIN_USERS_WITH_TWO)
    data = load_interactions(write_csv(tmp_path, rows), DataConfig(max_user_history_length_percentile=1.0))
    assert data.n_events == MIN_INTERACTIONS and data.summary()["users_with_2_or_more"] == MIN_USERS_WITH_TWO


def test_too_few_interactions(tmp_path):
    rows = enough_rows(n_users=40, per_user=30)[:999]
    with pytest.raises(InvalidInputException) as info:
        load_interactions(write_csv(tmp_path, rows), DataConfig(max_user_history_length_percentile=1.0))
    message = info.value.message
    assert "999 interactions" in message and "1000" in message and "25" in message


def test_too_few_users_with_two(tmp_path):
    rows = enough_rows(n_users=24, per_user=50)
    rows += [(f"single{k}", "item1", 5 + k, "click", 1) for k in range(100)]
    with pytest.raises(InvalidInputException, match="24 users with 2 or more"):
        load_interactions(write_csv(tmp_path, rows), DataConfig(max_user_history_length_percentile=1.0))


def test_minimums_apply_after_filtering(tmp_path):
    path = write_csv(tmp_path, enough_rows())  # 1200 rows, 400 purchases
    assert load_interactions(path).n_events > 1000
    with pytest.raises(InvalidInputException, match="after filtering.*eventType 'purchase'"):
        load_interactions(path, DataConfig(event_type="purchase"))


# ---- id maps ----------------------------------------------------------------------------------------

def test_id_maps_both_ways(tmp_path):
    rows = [("007", "0001", 5, "click", 1), ("7", "1", 6, "click", 1), ("007", "1", 7, "click", 1)]
    path = write_csv(tmp_path, rows)
    data = load_interactions(path, DataConfig(**NO_MIN))
    by_user = {u: events_of(data, u) for u in ("007", "7")}
    assert by_user == {"007": [("0001", 5), ("1", 7)], "7": [("1", 6)]}
    assert data.user_index("007") != data.user_index("7")
    assert data.user_ids[data.user_index("007")].as_py() == "007"
    assert data.user_index("nobody") is None
    assert data.item_ids[data.item_index("0001")].as_py() == "0001"
    # every event maps back to its original strings
    original = sorted(rows)
    got = sorted((data.user_ids[u].as_py(), data.item_ids[i].as_py(), int(t))
                 for u, i, t in zip(data.users, data.items, data.times))
    assert got == [(u, i, t) for u, i, t, *_ in original]


@pytest.mark.parametrize("ids", [
    ["0", "5", "42", "7", "1000"],                              # canonical decimals, small range
    ["12345678901", "5", "123", "42", "0"],                     # wide range (packed sort)
    ["12345678901", "5", "999999999999999999", "42", "0"],      # widest range (np.unique)
    ["0x10", "16", "007", "7", "+7", "-7", "7 ", "٣"],          # not canonical: hashed, kept verbatim
])
def test_ids_map_back_to_their_strings(ids):
    rng = np.random.default_rng(1)
    users = [ids[k] for k in rng.integers(0, len(ids), 300)]
    items = [ids[k] for k in rng.integers(0, len(ids), 300)]
    table = pa.table({"USER_ID": users, "ITEM_ID": items, "TIMESTAMP": np.arange(300)})
    data = build_interactions(table, DataConfig(**NO_MIN))
    assert sorted(data.user_ids.to_pylist()) == sorted(set(users))
    got = sorted((data.user_ids[u].as_py(), data.item_ids[i].as_py(), int(t))
                 for u, i, t in zip(data.users, data.items, data.times))
    assert got == sorted(zip(users, items, range(300)))
    for user in set(users):
        assert data.user_ids[data.user_index(user)].as_py() == user


def test_csv_and_parquet_give_the_same_data(tmp_path):
    rows = enough_rows(n_users=30, per_user=40)
    csv_path = write_csv(tmp_path, rows)
    parquet_path = tmp_path / "i.parquet"
    users, items, times, kinds, values = zip(*rows)
    pq.write_table(pa.table({"USER_ID": users, "ITEM_ID": items, "TIMESTAMP": times, "EVENT_TYPE": kinds,
                             "EVENT_VALUE": values}), parquet_path, row_group_size=100)
    for config in (DataConfig(), DataConfig(event_type="click", event_value_threshold=0.3, check_minimums=False)):
        a = load_interactions(csv_path, config)
        b = load_interactions(parquet_path, config)
        assert a.user_ids.equals(b.user_ids) and a.item_ids.equals(b.item_ids)
        for name in ("items", "times", "user_offsets", "seq_users", "session_offsets"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name


# ---- persistence and subsets ------------------------------------------------------------------------

def assert_same(a: InteractionData, b: InteractionData) -> None:
    for name in ("items", "times", "weights", "user_offsets", "seq_users", "session_offsets"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.user_ids.equals(b.user_ids) and a.item_ids.equals(b.item_ids)


def test_save_load_round_trip_and_atomic_replace(tmp_path):
    data = load_interactions(write_csv(tmp_path, enough_rows()))
    target = tmp_path / "saved"
    save_dataset(data, target)
    loaded = load_dataset(target)
    assert_same(data, loaded)
    assert loaded.summary() == data.summary()
    loaded.weights[0] = 2.0  # loaded arrays are ordinary writable arrays
    # saving a different dataset over it replaces it as a whole, leaving no temporary directories
    subset = data.take(np.array([3, 1]))
    save_dataset(subset, target)
    assert_same(subset, load_dataset(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.csv", "saved"]


def test_save_refuses_to_replace_other_directories(tmp_path):
    data = load_interactions(write_csv(tmp_path, enough_rows()))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(InvalidInputException, match="refusing"):
        save_dataset(data, precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    with pytest.raises(InvalidInputException, match="not a saved dataset"):
        load_dataset(precious)


def test_failed_save_leaves_old_dataset(tmp_path, monkeypatch):
    data = load_interactions(write_csv(tmp_path, enough_rows()))
    target = tmp_path / "saved"
    save_dataset(data, target)
    import hrnn.data.store as hdata

    def broken(path, columns):
        raise OSError("disk full")

    monkeypatch.setattr(hdata, "write_ipc", broken)
    with pytest.raises(OSError):
        save_dataset(data.take(np.array([0])), target)
    monkeypatch.undo()
    assert_same(data, load_dataset(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.csv", "saved"]


def test_take_keeps_sessions_and_ids(tmp_path):
    t = 1_000_000
    rows = [("a", "x", t, "click", 1), ("a", "y", t + 60, "click", 1), ("a", "z", t + 9000, "click", 1),
            ("a", "x", t + 9060, "click", 1), ("b", "y", t, "click", 1), ("b", "z", t + 10, "click", 1),
            ("c", "w", t, "click", 1)]
    data = load_interactions(write_csv(tmp_path, rows), DataConfig(**NO_MIN))
    a, b, c = (int(np.flatnonzero(data.seq_users == data.user_index(u))[0]) for u in "abc")
    sub = data.take(np.array([b, a]))
    assert sub.n_sequences == 2 and sub.n_events == 6
    assert sub.item_ids is data.item_ids and sub.user_ids is data.user_ids
    assert [sub.user_ids[u].as_py() for u in sub.seq_users] == ["b", "a"]
    assert sessions_of(sub, "a") == [["x", "y"], ["z", "x"]]
    assert sessions_of(sub, "b") == [["y", "z"]]
    # a cut inside a session keeps what remains of it; a cut to nothing keeps an empty sequence
    lo = data.user_offsets[a]
    cut = data.take(np.array([a, c]), starts=np.array([lo + 1, data.user_offsets[c]]),
                    stops=np.array([lo + 3, data.user_offsets[c]]))
    assert sessions_of(cut, "a") == [["y"], ["z"]]
    assert cut.lengths.tolist() == [2, 0] and cut.n_sessions == 2
    assert cut.summary()["users"] == 1


def test_ranges_to_index():
    assert ranges_to_index(np.array([5, 0, 9, 2]), np.array([2, 0, 3, 1])).tolist() == [5, 6, 9, 10, 11, 2]
    assert ranges_to_index(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []

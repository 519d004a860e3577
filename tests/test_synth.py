"""Tests of the synthetic Interactions generator: determinism, schema, sessions and planted structure."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from hrnn import synth
from hrnn.synth import SCHEMA, START_TIMESTAMP, generate_interactions, write_interactions

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_interactions.csv"
TIMEOUT = 30 * 60
N_ITEMS = 500
N_TOPICS = 20


@pytest.fixture(scope="module")
def generated():
    return generate_interactions(n_users=1500, n_items=N_ITEMS, n_topics=N_TOPICS, seed=3, return_truth=True)


@pytest.fixture(scope="module")
def by_time(generated):
    """Rows ordered by (user, timestamp), with the generator's indices."""
    table, truth = generated
    ts = table["TIMESTAMP"].to_numpy()
    order = np.lexsort((ts, truth.row_user))
    return {
        "ts": ts[order],
        "user": truth.row_user[order],
        "item": truth.row_item[order],
        "session": truth.row_session[order],
        "robot": truth.robot_users[truth.row_user[order]],
    }


def read_csv_as_strings(path) -> pa.Table:
    convert = pacsv.ConvertOptions(column_types={"USER_ID": pa.string(), "ITEM_ID": pa.string(),
                                                 "TIMESTAMP": pa.int64(), "EVENT_TYPE": pa.string(),
                                                 "EVENT_VALUE": pa.float64()})
    return pacsv.read_csv(path, convert_options=convert)


def test_same_seed_same_table_other_seed_differs():
    a = generate_interactions(n_users=200, n_items=200, n_topics=10, seed=7)
    b = generate_interactions(n_users=200, n_items=200, n_topics=10, seed=7)
    c = generate_interactions(n_users=200, n_items=200, n_topics=10, seed=8)
    assert a.equals(b)
    assert not a.equals(c)


def test_catalogue_structure_does_not_depend_on_user_count():
    _, t1 = generate_interactions(n_users=100, n_items=300, n_topics=10, seed=5, return_truth=True)
    _, t2 = generate_interactions(n_users=900, n_items=300, n_topics=10, seed=5, return_truth=True)
    np.testing.assert_array_equal(t1.item_topic, t2.item_topic)
    np.testing.assert_array_equal(t1.successors, t2.successors)
    np.testing.assert_array_equal(t1.start_items, t2.start_items)
    np.testing.assert_array_equal(t1.trending_items, t2.trending_items)


def test_schema_ids_and_time_range(generated):
    table, truth = generated
    assert table.schema.equals(SCHEMA)
    assert table.column_names == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]
    for name in ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"):
        assert table[name].null_count == 0
    users = set(pc.unique(table["USER_ID"]).to_pylist())
    items = set(pc.unique(table["ITEM_ID"]).to_pylist())
    assert len(users) == 1500 and all(u.isdigit() and not u.startswith("0") for u in users)
    assert all(re.fullmatch(r"i_\d{5}", i) for i in items)
    assert len(items) > 0.9 * N_ITEMS
    ts = table["TIMESTAMP"].to_numpy()
    assert ts.min() >= START_TIMESTAMP and ts.max() < START_TIMESTAMP + 120 * 86400
    assert ts.max() - ts.min() > 100 * 86400
    assert not (np.diff(ts) >= 0).all()  # rows are shuffled, not time-sorted
    # truth arrays are aligned with the rows
    assert (np.asarray(table["USER_ID"].to_pylist()) == truth.user_ids[truth.row_user]).all()
    assert (np.asarray(table["ITEM_ID"].to_pylist()) == truth.item_ids[truth.row_item]).all()


def test_sessions_are_recovered_by_a_30_minute_timeout(by_time):
    ts, user, session = by_time["ts"], by_time["user"], by_time["session"]
    same_user = user[1:] == user[:-1]
    same_session = session[1:] == session[:-1]
    gaps = np.diff(ts)
    assert (gaps[same_session] >= 1).all() and (gaps[same_session] <= TIMEOUT).all()
    assert (gaps[same_user & ~same_session] > TIMEOUT).all()
    # sessionize exactly as the pipeline does and compare with the generator's sessions
    new = np.r_[True, ~same_user | (gaps > TIMEOUT)]
    assert (new == np.r_[True, ~same_session]).all()
    lengths = np.bincount(session)
    assert lengths[np.unique(session)].min() >= 2
    assert lengths[np.unique(session[~by_time["robot"]])].max() <= 20


def test_users_keep_their_favourite_topics(generated):
    table, truth = generated
    human = ~truth.robot_users[truth.row_user]
    topic = truth.item_topic[truth.row_item]
    fav = truth.user_topics[truth.row_user]
    in_fav = (topic == fav[:, 0]) | (topic == fav[:, 1])
    share = in_fav[human].mean()
    n_fav = (truth.user_topics >= 0).sum(axis=1)
    chance = n_fav[~truth.robot_users].mean() / N_TOPICS
    assert share > 0.8
    assert share > 8 * chance
    # each user's tastes are small: 1 or 2 topics
    assert set(np.unique(n_fav)) <= {1, 2}


def test_session_start_is_predictable_from_the_users_earlier_session(by_time):
    """The first item of a user's 2nd session is often an item of their 1st session; a session-only
    model has nothing of the 1st session. Compare with pairing 2nd sessions with other users' 1st."""
    user, item, session = by_time["user"], by_time["item"], by_time["session"]
    keep = ~by_time["robot"]
    user, item, session = user[keep], item[keep], session[keep]
    new = np.r_[True, session[1:] != session[:-1]]
    sess_idx = np.cumsum(new) - 1
    first_of_user = np.r_[True, user[1:] != user[:-1]]
    rank = sess_idx - np.maximum.accumulate(np.where(first_of_user, sess_idx, 0))  # session number per user
    first_items = rank == 0
    second_starts = new & (rank == 1)
    users2 = user[second_starts]
    start_item = item[second_starts]
    known = set(zip(user[first_items].tolist(), item[first_items].tolist()))
    hit = np.mean([(u, i) in known for u, i in zip(users2.tolist(), start_item.tolist())])
    shuffled = np.random.default_rng(0).permutation(users2)
    baseline = np.mean([(u, i) in known for u, i in zip(shuffled.tolist(), start_item.tolist())])
    assert len(users2) > 500
    assert hit > 0.25
    assert hit > 4 * baseline


def test_next_item_transitions_concentrate(by_time, generated):
    _, truth = generated
    keep = ~by_time["robot"]
    item, session = by_time["item"][keep], by_time["session"][keep]
    same = session[1:] == session[:-1]
    prev, nxt = item[:-1][same], item[1:][same]
    counts = np.bincount(prev * N_ITEMS + nxt, minlength=N_ITEMS * N_ITEMS).reshape(N_ITEMS, N_ITEMS)
    total = counts.sum(axis=1)
    frequent = total >= 30
    assert frequent.sum() > 50
    top_share = counts[frequent].max(axis=1) / total[frequent]
    assert top_share.mean() > 0.25
    assert top_share.mean() > 50 / N_ITEMS
    # the empirical top successor is one of the planted successors for most items
    top = counts[frequent].argmax(axis=1)
    planted = truth.successors[frequent]
    assert (planted == top[:, None]).any(axis=1).mean() > 0.8


def test_trending_items_surge_at_the_end(generated):
    table, truth = generated
    ts = table["TIMESTAMP"].to_numpy()
    cut = ts.min() + 0.85 * (ts.max() - ts.min())
    trending = np.isin(truth.row_item, truth.trending_items)
    late, early = trending[ts >= cut].mean(), trending[ts < cut].mean()
    assert early < 0.01
    assert late > 0.1
    assert late > 5 * early
    assert ts[truth.row_trending_insert].min() >= truth.trend_start


def test_event_types_and_values(generated):
    table, _ = generated
    types = np.asarray(table["EVENT_TYPE"].to_pylist())
    assert set(types) == {"click", "purchase"}
    buy = types == "purchase"
    assert 0.08 < buy.mean() < 0.2
    values = table["EVENT_VALUE"]
    null = values.is_null().to_numpy(zero_copy_only=False)
    v = values.fill_null(-1.0).to_numpy()
    assert 0 < null.mean() < 0.05 and not (null & buy).any()
    assert (v[buy] > 0).all() and v[buy].max() > 1.0
    clicks = ~buy & ~null
    assert (v[clicks] >= 0).all() and (v[clicks] <= 1).all()


def test_target_rows_scales_users():
    table = generate_interactions(n_items=300, n_topics=10, target_rows=20_000, seed=1)
    assert abs(table.num_rows - 20_000) < 0.1 * 20_000
    assert table.num_rows / pc.count_distinct(table["USER_ID"]).as_py() == pytest.approx(
        synth.expected_rows_per_user(), rel=0.15
    )


def test_robots_exist_and_are_long():
    table, truth = generate_interactions(n_users=3000, n_items=300, n_topics=10, seed=2, return_truth=True)
    robots = np.flatnonzero(truth.robot_users)
    assert len(robots) == 3
    rows = np.bincount(truth.row_user, minlength=3000)
    assert rows[robots].min() > 10 * np.median(rows)


def test_write_roundtrip_csv_and_parquet(tmp_path):
    table = generate_interactions(n_users=60, n_items=200, n_topics=10, seed=4)
    back = read_csv_as_strings(write_interactions(table, tmp_path / "a.csv"))
    assert back.column_names == table.column_names
    for name in table.column_names:
        assert back[name].equals(table[name]), name
    back = pq.read_table(write_interactions(table, tmp_path / "sub" / "a.parquet"))
    assert back.cast(SCHEMA).equals(table)
    with pytest.raises(ValueError):
        write_interactions(table, tmp_path / "a.json")


def test_main_writes_a_file_and_describes(tmp_path, capsys):
    out = tmp_path / "x.parquet"
    assert synth.main(["--users", "40", "--items", "200", "--topics", "10", "--seed", "1", "--out", str(out)]) == 0
    assert pq.read_table(out).num_rows > 80
    assert synth.main(["--describe"]) == 0
    text = capsys.readouterr().out
    assert "trending" in text and "topic" in text


def test_invalid_arguments():
    with pytest.raises(ValueError):
        generate_interactions(n_users=10, n_items=30, n_topics=25)
    with pytest.raises(ValueError):
        generate_interactions(n_users=0)


def test_sample_file_is_current_and_meets_service_minimums():
    regenerate = "python -m hrnn.synth --users 2000 --items 1000 --seed 0 --out data/sample_interactions.csv"
    assert SAMPLE.exists(), f"run: {regenerate}"
    assert SAMPLE.stat().st_size < 3_000_000
    sample = read_csv_as_strings(SAMPLE)
    assert sample.schema.names == SCHEMA.names
    assert sample.num_rows >= 1000
    counts = pc.value_counts(sample["USER_ID"]).field("counts").to_numpy()
    assert (counts >= 2).sum() >= 25
    expected = generate_interactions(n_users=2000, n_items=1000, seed=0)
    assert sample.num_rows == expected.num_rows
    for name in ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"):
        assert sample[name].equals(expected[name]), name
    np.testing.assert_allclose(
        sample["EVENT_VALUE"].fill_null(-1.0).to_numpy(), expected["EVENT_VALUE"].fill_null(-1.0).to_numpy()
    )

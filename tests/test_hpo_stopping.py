"""Issue 18, early stopping: the rule (rungs, cutoffs, the comparison set), which trial is the best, the record
of a stop, and the searcher's view of a stopped trial. Pure functions; the Tune runs are in
test_hpo_early_stopping.py."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrnn.errors import InvalidInputException
from tuning.hpo.results import TrialRecord, best_record, peak_epoch
from tuning.hpo.state import ExperimentState, TrialState, parse_state
from tuning.hpo.stopping import EarlyStopping, cutoff, decide, objective_at, replay

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hpo_driver import tiny_request  # noqa: E402

ASHA = EarlyStopping(grace_period=1, reduction_factor=3)


def curve(*values: float) -> list[dict]:
    """A learning curve as the record keeps it: one report per epoch, 1-based."""
    return [{"epoch": e, "objective": v} for e, v in enumerate(values, 1)]


def test_rungs_are_ashas_below_the_last_epoch():
    assert ASHA.milestones(10) == (1, 3, 9)
    assert ASHA.milestones(9) == (1, 3)  # a rung at the last epoch would stop nothing
    assert EarlyStopping(2, 2).milestones(10) == (2, 4, 8)
    assert EarlyStopping(1, 3, brackets=2).milestones(10, bracket=1) == (3, 9)
    assert ASHA.milestones(1) == ()
    assert [EarlyStopping(1, 3, 3).bracket(i) for i in range(5)] == [0, 1, 2, 0, 1]
    with pytest.raises(InvalidInputException, match="reduction_factor"):
        EarlyStopping(1, 1)
    with pytest.raises(InvalidInputException, match="grace_period"):
        EarlyStopping(0, 3)


def test_cutoff_is_the_hand_computed_quantile():
    # The (1 - 1/3) quantile of 0.1, 0.2, 0.3 with linear interpolation: 0.2 + (4/3 - 1) * 0.1.
    assert cutoff([0.1, 0.2, 0.3], 3) == pytest.approx(0.2 + 0.1 / 3)
    assert cutoff([0.1, 0.3], 2) == pytest.approx(0.2)
    assert cutoff([0.5], 3) == pytest.approx(0.5)


def test_a_trial_is_compared_with_the_trials_that_finished_before_it_started():
    histories = [curve(0.1), curve(0.2), curve(0.3), curve(0.9)]
    # Trial 4 with 2 at once starts once trials 0..2 have finished: cutoff 0.2333 from those three.
    stop = decide(ASHA, histories, 4, 2, 10, 1, 0.22, maximize=True)
    assert stop["epoch"] == 1 and stop["rung"] == 1 and stop["compared_with"] == 3
    assert stop["cutoff"] == pytest.approx(0.2 + 0.1 / 3)
    assert "below" in stop["reason"] and "rung 1 of 3" in stop["reason"]
    assert decide(ASHA, histories, 4, 2, 10, 1, 0.24, maximize=True) is None
    assert decide(ASHA, histories, 4, 2, 10, 1, stop["cutoff"], maximize=True) is None  # equal continues
    # Trial 3 (which ran beside it) says nothing: whether it had reported or not, the decision is the same.
    running = [curve(0.1), curve(0.2), curve(0.3), []]
    assert decide(ASHA, running, 4, 2, 10, 1, 0.22, maximize=True) == stop
    # Only rung epochs decide; the first P trials have nothing to be compared with.
    assert decide(ASHA, histories, 4, 2, 10, 2, 0.0, maximize=True) is None
    assert decide(ASHA, histories, 1, 2, 10, 1, 0.0, maximize=True) is None
    # A trial stopped before a rung is not part of it.
    short = [curve(0.1), curve(0.2, 0.25, 0.3), curve(0.3, 0.35, 0.4)]
    assert decide(ASHA, short, 4, 2, 10, 3, 0.33, maximize=True)["compared_with"] == 2


def test_minimize_mirrors_maximize():
    histories = [curve(0.1), curve(0.2), curve(0.3)]
    stop = decide(ASHA, histories, 4, 2, 10, 1, 0.28, maximize=False)
    # Lower is better: the cutoff is the 1/3 quantile, 0.1 + (2/3) * 0.1.
    assert stop["cutoff"] == pytest.approx(0.1 + 0.2 / 3) and "above" in stop["reason"]
    assert decide(ASHA, histories, 4, 2, 10, 1, 0.15, maximize=False) is None


def test_brackets_compare_only_within_their_bracket():
    band = EarlyStopping(1, 3, brackets=2)
    histories = [curve(0.9, 0.9, 0.9), curve(0.1, 0.1, 0.1), curve(0.2, 0.2, 0.2), curve(0.1, 0.1, 0.1)]
    # Trial 4 (bracket 0) is compared with trials 0 and 2 at epoch 1; trial 5 (bracket 1) has no rung at 1.
    assert decide(band, histories, 4, 2, 10, 1, 0.5, maximize=True)["compared_with"] == 2
    assert decide(band, histories + [curve(0.5)], 5, 2, 10, 1, 0.0, maximize=True) is None
    assert decide(band, histories + [curve(0.5)], 5, 2, 10, 3, 0.0, maximize=True)["compared_with"] == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=12), st.floats(0.0, 1.0),
       st.sampled_from([2, 3, 4]))
def test_the_decision_is_ray_tunes_asha_decision_on_the_same_results(earlier, value, reduction):
    """Fed the earlier trials' results first, Tune's ASHA bracket takes the same decision at the rung."""
    from ray.tune.schedulers import TrialScheduler
    from ray.tune.schedulers.async_hyperband import _Bracket

    bracket = _Bracket(1, 10, reduction, 0)
    for i, v in enumerate(earlier):
        bracket.on_result(SimpleNamespace(trial_id=f"t{i}"), 1, v)
    tune_stops = bracket.on_result(SimpleNamespace(trial_id="new"), 1, value) == TrialScheduler.STOP
    rule = EarlyStopping(1, reduction)
    ours = decide(rule, [curve(v) for v in earlier], len(earlier) + 1, 2, 10, 1, value, maximize=True)
    assert (ours is not None) == tune_stops


def _record(trial_id: str, objective: float, epochs: int, stopped: bool) -> TrialRecord:
    return TrialRecord(trial_id=trial_id, params={}, objective=objective, metrics={}, epochs=epochs, seconds=1.0,
                       device="cpu", node="n", status="TERMINATED", stopped_at=epochs if stopped else None)


def test_a_stopped_trial_is_the_best_only_when_its_objective_is():
    full = _record("trial_000", 0.06, 10, False)
    assert best_record([full, _record("trial_001", 0.05, 1, True)], True) is full
    better = _record("trial_001", 0.07, 1, True)
    assert best_record([full, better], True) is better  # its objective is the best: it is the best
    # Equal objectives: the trial that trained more epochs, whichever came first.
    assert best_record([_record("trial_000", 0.06, 3, True), full], True) is full
    assert best_record([full, _record("trial_001", 0.06, 10, False)], True) is full  # then trial order
    assert best_record([full, _record("trial_001", 0.05, 1, True)], False).trial_id == "trial_001"  # minimise


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 10), st.booleans()), min_size=1, max_size=10),
       st.booleans())
def test_the_best_objective_always_wins_and_a_stopped_best_never_ties_a_full_trial(trials, maximize):
    records = [_record(f"trial_{i:03d}", value / 100, epochs, stopped) for i, (value, epochs, stopped) in enumerate(trials)]
    best = best_record(records, maximize)
    sign = 1 if maximize else -1
    assert all(sign * best.objective >= sign * r.objective for r in records)
    if best.stopped:
        assert all(r.objective != best.objective or r.epochs <= best.epochs for r in records)


def test_peak_epoch_is_the_first_epoch_of_the_best_objective():
    assert peak_epoch(curve(0.1, 0.3, 0.2, 0.3), True) == 2
    assert peak_epoch(curve(0.1, 0.3, 0.2, 0.05), False) == 4
    # A retried epoch reports twice: its last report counts.
    retried = curve(0.1, 0.3) + [{"epoch": 2, "objective": 0.05}, {"epoch": 3, "objective": 0.2}]
    assert peak_epoch(retried, True) == 3
    assert peak_epoch([], True) is None
    assert objective_at(retried, 2) == 0.05 and objective_at(retried, 7) is None


def test_a_recorded_stop_round_trips_and_a_forged_one_is_refused():
    hpo = tiny_request(2, 2, 4).hpo
    stop = decide(ASHA, [curve(0.3), curve(0.4)], 2, 2, 4, 1, 0.1, maximize=True)
    trial = TrialState(index=0, params={"hidden_dimension": 33, "bptt": 4, "recency_mask": True},
                       status="TERMINATED", history=curve(0.1), last={"epoch": 1}, stopped=stop)
    state = ExperimentState(fingerprint="f", attempts=1, trials=[trial])
    assert parse_state(state.to_json(), hpo, "x").trials[0].stopped == stop
    for forged in ({**stop, "epoch": 0}, {**stop, "cutoff": "high"}, {**stop, "extra": 1}, [1], {**stop, "reason": 5}):
        trial.stopped = forged
        with pytest.raises(InvalidInputException, match="early-stopping decision"):
            parse_state(state.to_json(), hpo, "x")


def test_a_stopped_trial_is_pruned_for_the_searcher(monkeypatch):
    """TPE is told a stopped trial was pruned (with its curve), never that its early objective is final."""
    import optuna

    from tuning.hpo.search import suggest

    hpo = tiny_request(6, 2, 4).hpo
    seen, original = [], optuna.trial.create_trial

    def spy(**kwargs):
        seen.append(kwargs)
        return original(**kwargs)

    trials = [TrialState(index=0, params={"hidden_dimension": 33, "bptt": 4, "recency_mask": True},
                         status="TERMINATED", history=curve(0.3, 0.4), last={"normalized_discounted_cumulative_gain_at_10": 0.4, "epoch": 2}),
              TrialState(index=1, params={"hidden_dimension": 34, "bptt": 5, "recency_mask": False},
                         status="TERMINATED", history=curve(0.1), last={"normalized_discounted_cumulative_gain_at_10": 0.1, "epoch": 1},
                         stopped={"epoch": 1, "rung": 1, "cutoff": 0.3, "compared_with": 1, "reason": "r"})]
    monkeypatch.setattr(optuna.trial, "create_trial", spy)  # suggest() imports it when it runs
    first = suggest(hpo, 42, trials, 3)
    assert seen[0].get("state", optuna.trial.TrialState.COMPLETE) == optuna.trial.TrialState.COMPLETE
    assert seen[0]["value"] == 0.4
    assert seen[1]["state"] == optuna.trial.TrialState.PRUNED and seen[1]["intermediate_values"] == {1: 0.1}
    assert suggest(hpo, 42, trials, 3) == first  # still deterministic


def test_replay_stops_what_decide_stops_and_truncates_the_stopped():
    histories = [curve(0.5, 0.6, 0.7), curve(0.5, 0.6, 0.7), curve(0.1, 0.2, 0.3), curve(0.6, 0.1, 0.9)]
    stops = replay(EarlyStopping(1, 2), histories, 2, 3, maximize=True)
    assert stops[0] is None and stops[1] is None
    assert stops[2]["epoch"] == 1 and stops[2]["compared_with"] == 1
    # Trial 3 is compared at epoch 1 with trials 0 and 1, and at epoch 2 with them (trial 2 stopped at 1).
    assert stops[3]["epoch"] == 2 and stops[3]["compared_with"] == 2
    assert replay(None, histories, 2, 3, maximize=True) == [None] * 4
    assert math.isclose(stops[3]["cutoff"], 0.6)

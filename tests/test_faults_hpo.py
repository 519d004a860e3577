"""Issue 12, HPO: resume never unpickles what the experiment directory holds; two runs of a request and seed
tune the same trials (no configuration twice); a resumed run prints its trial lines and Optuna stays quiet.

One local Ray (2 CPUs, private temp dir) serves the module; its processes are stopped by PID.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
from pathlib import Path

import pytest

from hrnn.errors import InvalidInputException
from tuning.hpo import run_hpo
from tuning.ray_env import trial_resources

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hpo_driver import private_ray, tiny_data, tiny_request  # noqa: E402


def small_space_request(total: int = 4, parallel: int = 2, epochs: int = 1):
    """bptt in {2, 3} x recency_mask {true, false}: four configurations, so repeats are likely for TPE."""
    return tiny_request(total, parallel, epochs, fixed={"hidden_dimension": "32"},
                        integer_ranges=[{"name": "bptt", "minValue": 2, "maxValue": 3}])


@pytest.fixture(scope="module")
def local_ray():
    with private_ray(num_gpus=0, prefix="rf") as temp_dir:
        yield temp_dir


@pytest.fixture(scope="module")
def tiny():
    return tiny_data()


# ---- pure: the searcher ------------------------------------------------------------------------------------------

def _trial(index: int, params: dict, objective: float | None, status: str = "TERMINATED"):
    from tuning.hpo.state import TrialState

    return TrialState(index=index, params=params, status=status,
                      last={} if objective is None else {"normalized_discounted_cumulative_gain_at_10": objective})


def test_suggestions_do_not_depend_on_which_trial_finished_first():
    from tuning.hpo.search import ready, suggest
    from tuning.hpo.state import ExperimentState

    hpo = small_space_request(total=6, parallel=2).hpo
    first = suggest(hpo, 42, [], 0)
    second = suggest(hpo, 42, [_trial(0, first, None, "RUNNING")], 1)
    # Trial 2 may start once trial 0 has finished; whether trial 1 has finished too must not matter.
    early = [_trial(0, first, 0.05), _trial(1, second, None, "RUNNING")]
    late = [_trial(0, first, 0.05), _trial(1, second, 0.09)]
    state = ExperimentState(fingerprint="x", trials=early)
    assert ready(state, 2, 2) and not ready(ExperimentState("x", trials=[_trial(0, first, None, "RUNNING")]), 2, 2)
    assert suggest(hpo, 42, early, 2) == suggest(hpo, 42, late, 2)


def test_no_configuration_is_suggested_twice_while_unseen_ones_remain():
    from tuning.hpo.search import suggest

    hpo = small_space_request(total=4, parallel=2).hpo
    trials: list = []
    for i in range(4):
        trials.append(_trial(i, suggest(hpo, 7, trials, i), 0.01 * i))
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4


def test_gpus_per_trial_that_is_not_a_finite_number_is_refused():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(InvalidInputException, match="finite"):
            trial_resources({"CPU": 2.0, "GPU": 1.0}, bad)


# ---- Tune runs -----------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_runs_of_one_request_and_seed_tune_the_same_trials(local_ray, tiny, tmp_path):
    data, splits = tiny
    runs = [run_hpo(data, splits, small_space_request(), storage=str(tmp_path / f"run{i}"), name="same", quiet=True)
            for i in range(2)]
    params = [[t.params for t in r.trials] for r in runs]
    assert params[0] == params[1]
    assert len({tuple(sorted(p.items())) for p in params[0]}) == 4  # the 4 configurations, each once
    assert runs[0].tuned_hpo_params() == runs[1].tuned_hpo_params()
    assert [t.objective for t in runs[0].trials] == [t.objective for t in runs[1].trials]


def _plant(directory: Path, marker: Path) -> list[Path]:
    """Malicious pickles where Tune (and a Tune-based resume) would look for its saved state."""
    payload = pickle.dumps(_Planted(marker))
    planted = []
    for where in [directory, *sorted(directory.glob("attempt-*")), *sorted(directory.glob("attempt-*/trial_*"))]:
        for name in ("tuner.pkl", "trainable.pkl", "searcher-state-2026.pkl", "error.pkl"):
            (where / name).write_bytes(payload)
            planted.append(where / name)
    return planted


class _Planted:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.slow
def test_resume_rebuilds_from_json_and_never_unpickles_planted_files(local_ray, tiny, tmp_path, capfd):
    data, splits = tiny
    request = small_space_request(total=3, parallel=2, epochs=2)
    first = run_hpo(data, splits, request, storage=str(tmp_path), name="exp", quiet=True)
    experiment = tmp_path / "exp"
    # As if the driver had died before its last trial finished: the record keeps it unfinished.
    state_file = experiment / "hrnn_hpo_state.json"
    state = json.loads(state_file.read_text())
    state["trials"][-1]["status"] = "RUNNING"
    state_file.write_text(json.dumps(state))
    marker = tmp_path / "code-ran"
    assert _plant(experiment, marker)
    capfd.readouterr()

    progress = io.StringIO()
    resumed = run_hpo(data, splits, request, storage=str(tmp_path), name="exp", progress_stream=progress)
    assert not marker.exists(), "a planted pickle was executed"
    assert (experiment / "attempt-2").is_dir()  # the unfinished trial ran again, in a new Tune run
    assert [t.params for t in resumed.trials] == [t.params for t in first.trials]
    assert resumed.tuned_hpo_params() == first.tuned_hpo_params()
    last = resumed.trials[-1]
    assert last.status == "TERMINATED" and last.epochs == 2
    assert last.history[-1]["restored_from"] == 2  # continued from its checkpoint, not retrained
    lines = progress.getvalue().splitlines()
    assert any(line.startswith(f"[hpo] {last.trial_id}") and "TERMINATED" in line and "3/3 trials" in line
               for line in lines), lines  # a resumed run prints its trial lines
    assert "A new study created" not in capfd.readouterr().err  # Optuna is quiet


@pytest.mark.slow
def test_a_damaged_or_hostile_record_is_refused(local_ray, tiny, tmp_path):
    data, splits = tiny
    request = small_space_request(total=2, parallel=2)
    run_hpo(data, splits, request, storage=str(tmp_path), name="exp", quiet=True)
    state_file = tmp_path / "exp" / "hrnn_hpo_state.json"
    state = json.loads(state_file.read_text())
    state["trials"][0]["checkpoint"] = "../../../../etc"
    state["trials"][0]["status"] = "RUNNING"
    state_file.write_text(json.dumps(state))
    with pytest.raises(InvalidInputException, match="damaged.*checkpoint"):
        run_hpo(data, splits, request, storage=str(tmp_path), name="exp", quiet=True)


@pytest.mark.slow
def test_failed_trials_are_reported_from_text_and_their_error_pickles_never_loaded(local_ray, tiny, tmp_path,
                                                                                   monkeypatch):
    import hpo_hooks
    from ray.tune.experiment.trial import Trial

    from tuning.hpo import HPOError

    hpo_hooks.register()
    loaded = []
    original = Trial.get_pickled_error

    def spy(self):
        loaded.append(self.run_metadata.pickled_error_filename)
        return original(self)

    monkeypatch.setattr(Trial, "get_pickled_error", spy)
    with pytest.raises(HPOError, match="injected failure of trial"):
        run_hpo(data=tiny[0], splits=tiny[1], request=small_space_request(total=2, parallel=2), storage=str(tmp_path),
                name="fail", quiet=True, max_failures=0, epoch_hook=hpo_hooks.FailAt(1))
    assert list(tmp_path.glob("fail/attempt-1/trial_*/error.pkl")), "Tune wrote its error pickles"
    assert loaded and set(loaded) == {None}  # ... and the result grid found none to unpickle


def test_max_epochs_below_one_is_refused_before_ray(tiny, tmp_path):
    data, splits = tiny
    with pytest.raises(InvalidInputException, match="max_epochs"):
        run_hpo(data, splits, small_space_request(), storage=str(tmp_path), name="zero", max_epochs=0, quiet=True)
    assert not (tmp_path / "zero").exists()

"""Issue 18, early stopping on Ray Tune: two runs of one request and seed stop the same trials at the same
epochs and tune the same, however the trials interleave; a stop outlives the driver (a trial stopped just
before the driver died trains no further; a killed HPO resumes with its decisions intact).

One local Ray (2 CPUs, private temp dir) serves the module; its processes are stopped by PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tuning.hpo import run_hpo
from tuning.hpo.state import STATE_NAME
from tuning.hpo.stopping import EarlyStopping, replay
from tuning.ray_env import kill_processes, ray_processes

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hpo_hooks  # noqa: E402
from hpo_driver import private_ray, tiny_data, tiny_request  # noqa: E402

hpo_hooks.register()
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().parent / "hpo_driver.py"
RULE = EarlyStopping(grace_period=1, reduction_factor=2)  # rungs at epochs 1 and 2 of 4
TRIALS, EPOCHS = 6, 4


@pytest.fixture(scope="module")
def local_ray():
    with private_ray(num_gpus=0, prefix="re") as temp_dir:
        yield temp_dir


@pytest.fixture(scope="module")
def tiny():
    return tiny_data()


@pytest.fixture(scope="module")
def reference(local_ray, tiny, tmp_path_factory):
    """The experiment the other tests compare with (the same request, seed and rule as the driver's)."""
    data, splits = tiny
    storage = tmp_path_factory.mktemp("reference")
    return run_hpo(data, splits, tiny_request(TRIALS, 2, EPOCHS), storage=str(storage), name="ref", quiet=True,
                   early_stopping=RULE), storage


def _stops(result) -> dict:
    return {t.trial_id: t.stopped_at for t in result.trials}


def test_two_runs_stop_the_same_trials_however_the_trials_interleave(reference, tiny, tmp_path):
    first, _ = reference
    data, splits = tiny
    # Random extra time per epoch: trials finish in another order than in the reference run.
    second = run_hpo(data, splits, tiny_request(TRIALS, 2, EPOCHS), storage=str(tmp_path), name="again", quiet=True,
                     early_stopping=RULE, epoch_hook=hpo_hooks.JitterEachEpoch(0.4))
    stopped = [t for t in first.trials if t.stopped]
    assert stopped and len(stopped) < TRIALS, _stops(first)  # the run shows something
    assert _stops(second) == _stops(first)
    assert [t.params for t in second.trials] == [t.params for t in first.trials]
    assert [t.objective for t in second.trials] == [t.objective for t in first.trials]
    assert second.tuned_hpo_params() == first.tuned_hpo_params()
    assert second.best.trial_id == first.best.trial_id
    for trial in first.trials[:2]:  # nothing to compare the first two with: they run to the end
        assert not trial.stopped and trial.epochs == EPOCHS
    for trial in stopped:
        # Where it stopped and why, and what ran: no epoch after the stop, its seconds up to it.
        assert trial.epochs == trial.stopped_at and trial.stopped_at in RULE.milestones(EPOCHS)
        assert max(h["epoch"] for h in trial.history) == trial.stopped_at
        assert trial.seconds == pytest.approx(trial.history[-1]["trial_seconds"])
        assert "below" in trial.stop_reason and trial.objective < first.best.objective
    assert first.training_seconds == pytest.approx(sum(t.seconds for t in first.trials))
    # Every recorded decision is the rule's, recomputed from the finished record.
    replayed = replay(RULE, [t.history for t in first.trials], 2, EPOCHS, maximize=True)
    assert [s["epoch"] if s else None for s in replayed] == [t.stopped_at for t in first.trials]


def test_a_trial_stopped_just_before_the_driver_died_trains_no_further(reference, tiny, tmp_path):
    """The record says "stopped after epoch e" but not yet finished: the resumed trial restarts from its
    checkpoint and ends at epoch e with the same objective."""
    first, storage = reference
    data, splits = tiny
    experiment = tmp_path / "ref"
    shutil.copytree(storage / "ref", experiment)
    state_file = experiment / STATE_NAME
    state = json.loads(state_file.read_text())
    victim = next(t for t in state["trials"] if t["stopped"])
    victim["status"] = "RUNNING"
    state_file.write_text(json.dumps(state))
    resumed = run_hpo(data, splits, tiny_request(TRIALS, 2, EPOCHS), storage=str(tmp_path), name="ref", quiet=True,
                      early_stopping=RULE)
    trial = next(t for t in resumed.trials if t.trial_id == f"trial_{victim['index']:03d}")
    before = next(t for t in first.trials if t.trial_id == trial.trial_id)
    assert trial.status == "TERMINATED" and trial.stopped_at == before.stopped_at
    assert max(h["epoch"] for h in trial.history) == before.stopped_at  # not one epoch more
    assert trial.objective == before.objective
    assert json.loads(state_file.read_text())["attempts"] == 2  # it did run again
    assert _stops(resumed) == _stops(first)


def test_killed_hpo_resumes_with_its_stopping_decisions(reference, tmp_path):
    """SIGKILL the driver once a trial has been stopped and others still run; the resumed experiment keeps
    that decision as recorded and stops exactly what an uninterrupted run stops."""
    first, _ = reference
    storage, summary = tmp_path / "store", tmp_path / "summary.json"
    marker = f"HRNN_TEST_RAY={uuid.uuid4().hex}"
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, HRNN_TEST_RAY=marker.split("=", 1)[1], PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path / "tmp"))
    temp_dirs = [tempfile.mkdtemp(prefix="rk", dir="/tmp") for _ in range(2)]
    state_file = storage / "exp" / STATE_NAME

    def command(temp_dir):
        return [sys.executable, str(DRIVER), str(storage), "exp", temp_dir, str(summary), str(EPOCHS), "0.4",
                str(TRIALS), f"{RULE.grace_period},{RULE.reduction_factor}"]

    try:
        driver = subprocess.Popen(command(temp_dirs[0]), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        deadline, before = time.monotonic() + 300, None
        while time.monotonic() < deadline and driver.poll() is None:
            try:
                state = json.loads(state_file.read_text())
            except (OSError, ValueError):
                state = None
            if state and any(t["stopped"] for t in state["trials"]) and any(
                    t["status"] != "TERMINATED" for t in state["trials"]):
                before = state
                break
            time.sleep(0.05)
        assert driver.poll() is None, f"driver ended before it could be killed: {driver.stderr.read()[-2000:]}"
        assert before is not None, "no trial was stopped in time"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        driver.stderr.close()
        assert kill_processes(ray_processes(temp_dirs[0], marker), timeout=2) == []
        recorded = {t["index"]: t["stopped"] for t in json.loads(state_file.read_text())["trials"] if t["stopped"]}
        assert recorded and not summary.exists()

        second = subprocess.run(command(temp_dirs[1]), env=env, capture_output=True, text=True, timeout=240)
        assert second.returncode == 0, second.stderr[-3000:]
        final = json.loads(state_file.read_text())
        assert final["attempts"] == 2
        for index, stop in recorded.items():  # the decisions made before the kill, intact
            assert final["trials"][index]["stopped"] == stop
        trials = json.loads(summary.read_text())["trials"]
        assert {t["trial_id"]: t["stopped_at"] for t in trials} == _stops(first)
        assert [t["params"] for t in trials] == [t.params for t in first.trials]
        assert json.loads(summary.read_text())["best"] == first.best.trial_id
    finally:
        for temp_dir in temp_dirs:
            kill_processes(ray_processes(temp_dir, marker), timeout=2)
            shutil.rmtree(temp_dir, ignore_errors=True)
    assert ray_processes(None, marker) == []

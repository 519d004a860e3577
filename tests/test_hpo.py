"""HPO on Ray Tune: search-space mapping, trial records and best trial, GPU assignment (Ray's logical GPUs),
fractional packing, retry from a checkpoint, and resume of a killed driver.

One Ray instance (2 CPUs, 2 logical GPUs, capped object store, private temp dir) serves the module; every
Ray process a test starts is stopped by PID (never `ray stop`, which would hit other Ray instances).
"""

from __future__ import annotations

import glob
import io
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

from hrnn.errors import InvalidInputException
from hrnn.recipe import HRNN_RECIPE
from tuning.hpo import TRIAL_STATE_NAME, run_hpo, search_space
from tuning.ray_env import kill_processes, ray_processes, trial_resources
from tuning.request import HPOConfig, SearchRange

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hpo_hooks  # noqa: E402
from hpo_driver import private_ray, tiny_data, tiny_request  # noqa: E402

hpo_hooks.register()

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().parent / "hpo_driver.py"


@pytest.fixture(scope="module")
def ray_cluster():
    with private_ray(num_gpus=2, prefix="rt") as temp_dir:
        yield temp_dir


@pytest.fixture(scope="module")
def tiny():
    return tiny_data()


# --- pure functions -----------------------------------------------------------------------------------------


def test_search_space_mapping():
    hp = {p.name: p for p in HRNN_RECIPE.hyperparameters}
    hpo = HPOConfig(ranges=(
        SearchRange("training.bptt", hp["bptt"], "integer", 2, 8),
        SearchRange("hidden_dimension", hp["hidden_dimension"], "integer", 32, 32),
        SearchRange("recency_mask", hp["recency_mask"], "categorical", values=(True, False)),
        SearchRange("learning_rate", hp["learning_rate"], "continuous", 0.01, 0.2),
    ))
    space = search_space(hpo)
    assert set(space) == {"bptt", "hidden_dimension", "recency_mask", "learning_rate"}  # plain names
    assert (space["bptt"].low, space["bptt"].high) == (2, 8)  # both ends inclusive, as the service's ranges
    assert (space["hidden_dimension"].low, space["hidden_dimension"].high) == (32, 32)
    assert list(space["recency_mask"].choices) == [True, False]
    assert (space["learning_rate"].low, space["learning_rate"].high) == (0.01, 0.2)


def test_trial_resources_never_wait_for_missing_gpus():
    no_gpu = {"CPU": 2.0}
    assert trial_resources(no_gpu, None).as_dict() == {"cpu": 1, "gpu": 0.0}
    assert trial_resources(no_gpu, 0).gpu == 0
    with pytest.raises(InvalidInputException, match="no GPUs"):
        trial_resources(no_gpu, 1)
    with pytest.raises(InvalidInputException, match="no GPUs"):
        trial_resources(no_gpu, 0.5)
    two = {"CPU": 4.0, "GPU": 2.0}
    assert trial_resources(two, None).gpu == 1.0
    assert trial_resources(two, 0.25).gpu == 0.25
    assert trial_resources(two, 2).gpu == 2.0
    with pytest.raises(InvalidInputException, match="at most 1 GPUs on one node"):
        trial_resources(two, 2, node_max=(2.0, 1.0))  # two 1-GPU nodes: a 2-GPU trial never fits
    with pytest.raises(InvalidInputException, match="CPUs"):
        trial_resources(two, None, cpus_per_trial=8)


# --- Tune runs ------------------------------------------------------------------------------------------------


def _overlap(a, b) -> bool:
    return a.started_at < b.ended_at and b.started_at < a.ended_at


@pytest.mark.slow
def test_four_trials_two_parallel_on_logical_gpus(ray_cluster, tiny, tmp_path):
    data, splits = tiny
    request = tiny_request(4, 2, epochs=2)
    progress = io.StringIO()
    result = run_hpo(data, splits, request, storage=str(tmp_path), name="four", progress_stream=progress)

    assert len(result.trials) == 4 and len({t.trial_id for t in result.trials}) == 4
    assert all(t.status == "TERMINATED" and t.epochs == 2 and t.error is None for t in result.trials)
    assert result.best.objective == max(t.objective for t in result.trials)
    assert result.best in result.trials
    for t in result.trials:
        assert set(t.params) == {"hidden_dimension", "bptt", "recency_mask"}
        assert 32 <= int(t.params["hidden_dimension"]) <= 40 and 2 <= int(t.params["bptt"]) <= 8
        assert t.params["recency_mask"] in ("true", "false")
        assert set(t.metrics) >= {"precision_at_25", "coverage", "mean_reciprocal_rank_at_25"}
        assert t.objective == t.metrics["normalized_discounted_cumulative_gain_at_10"]  # the default objective
        assert [h["epoch"] for h in t.history] == [1, 2] and t.history[-1]["objective"] == t.objective
        assert t.seconds > 0 and t.node and t.node_ip
    best = result.best_hyperparameters
    assert set(best.as_dict()) == {p.name for p in HRNN_RECIPE.hyperparameters}  # every hyperparameter, typed
    assert best.hidden_dimension == int(result.best.params["hidden_dimension"])
    assert best.bptt == int(result.best.params["bptt"])
    assert best.recency_mask is (result.best.params["recency_mask"] == "true")
    assert (best.epochs, best.batch_size, best.num_negatives) == (2, 16, 16)  # fixed ones kept
    assert (Path(result.best_checkpoint) / "checkpoint.pt").is_file()
    assert json.loads((Path(result.best_checkpoint) / TRIAL_STATE_NAME).read_text())["epoch"] == 2
    assert result.training_hours == pytest.approx(sum(t.seconds for t in result.trials) / 3600)
    assert result.tuned_hpo_params() == {"algorithmHyperParameters": result.best.params}

    # One logical GPU per trial: Ray pinned CUDA_VISIBLE_DEVICES; torch has no CUDA here, so the trial
    # trains on the CPU and records both.
    assert {t.cuda_visible_devices for t in result.trials} == {"0", "1"}
    assert all(t.device == f"cpu (CUDA_VISIBLE_DEVICES={t.cuda_visible_devices})" for t in result.trials)
    pairs = [(a, b) for i, a in enumerate(result.trials) for b in result.trials[i + 1:] if _overlap(a, b)]
    assert pairs, "no two trials ran at the same time"
    assert all(a.cuda_visible_devices != b.cuda_visible_devices for a, b in pairs)  # concurrent: distinct GPUs
    assert not any(_overlap(a, b) and _overlap(b, c) and _overlap(a, c)  # never 3 at once
                   for i, a in enumerate(result.trials) for j, b in enumerate(result.trials[i + 1:], i + 1)
                   for c in result.trials[j + 1:])

    lines = progress.getvalue().splitlines()
    for t in result.trials:
        assert any(t.trial_id in line and "TERMINATED" in line for line in lines)

    # The same name with another seed is a different experiment: refused, not silently resumed.
    with pytest.raises(InvalidInputException, match="different request"):
        run_hpo(data, splits, request, storage=str(tmp_path), name="four", seed=7, quiet=True)
    # The same call again resumes the finished experiment: same trials, nothing retrained.
    again = run_hpo(data, splits, request, storage=str(tmp_path), name="four", quiet=True)
    assert {t.trial_id: t.objective for t in again.trials} == {t.trial_id: t.objective for t in result.trials}
    assert all(len(t.history) == 2 for t in again.trials)


@pytest.mark.slow
def test_failed_trial_retries_from_its_checkpoint_with_packed_gpus(ray_cluster, tiny, tmp_path):
    """Two trials at half a GPU each share logical GPU "0"; each fails once at epoch 2 and is retried from
    its epoch-1 checkpoint in a new worker."""
    data, splits = tiny
    result = run_hpo(data, splits, tiny_request(2, 2, epochs=2), storage=str(tmp_path), name="retry",
                     gpus_per_trial=0.5, quiet=True,
                     epoch_hook=hpo_hooks.FailOnceAt(2, str(tmp_path), sleep=1.0))
    assert len(glob.glob(str(tmp_path / "*.failed"))) == 2  # each trial did fail once
    assert result.num_errors == 0
    a, b = result.trials
    assert a.cuda_visible_devices == b.cuda_visible_devices == "0"  # fractional: packed on one GPU
    assert a.device == "cpu (CUDA_VISIBLE_DEVICES=0)"
    assert _overlap(a, b)
    for t in result.trials:
        assert t.status == "TERMINATED" and t.epochs == 2
        # epoch 1 from scratch; the retry started from the epoch-1 checkpoint, not from scratch
        assert [(h["epoch"], h["restored_from"]) for h in t.history] == [(1, 0), (2, 1)]
        assert t.history[0]["pid"] != t.history[1]["pid"]  # the retry ran in a new worker process


def test_gpus_asked_for_but_absent_fail_fast(tiny, tmp_path, monkeypatch):
    import tuning.hpo.driver as hpo_module

    data, splits = tiny
    monkeypatch.setattr(hpo_module, "init_ray", lambda **kw: False)
    monkeypatch.setattr(hpo_module, "cluster_trial_resources",
                        lambda g, c: trial_resources({"CPU": 2.0}, g, c))
    with pytest.raises(InvalidInputException, match="no GPUs"):
        run_hpo(data, splits, tiny_request(2, 2, epochs=1), storage=str(tmp_path), name="nogpu",
                gpus_per_trial=1, quiet=True)
    assert not (tmp_path / "nogpu").exists()  # nothing started


@pytest.mark.slow
def test_killed_driver_resumes(tmp_path):
    """SIGKILL the driver right after a trial's checkpoint appears, clean up what it left, run it again."""
    storage, summary = tmp_path / "store", tmp_path / "summary.json"
    marker = f"HRNN_TEST_RAY={uuid.uuid4().hex}"
    # TMPDIR: the trials' scratch directories of workers killed mid-epoch land in tmp_path, not in /tmp
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, HRNN_TEST_RAY=marker.split("=", 1)[1], PYTHONPATH=str(ROOT),
               TMPDIR=str(tmp_path / "tmp"))
    temp_dirs = [tempfile.mkdtemp(prefix="rt", dir="/tmp") for _ in range(2)]

    def command(temp_dir):
        return [sys.executable, str(DRIVER), str(storage), "exp", temp_dir, str(summary), "3", "0.5"]

    started = time.monotonic()
    try:
        first = subprocess.Popen(command(temp_dirs[0]), env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300  # a loaded 2-core machine can be slow to start Ray
        seen: dict[str, int] = {}
        while time.monotonic() < deadline:
            # A trial whose second checkpoint is registered (the first one deleted): the experiment's record
            # may still name the deleted one for a moment; the resume must cope either way.
            for d in glob.glob(str(storage / "exp" / "attempt-1" / "*" / "checkpoint_0*")):
                index = int(Path(d).name.rsplit("_", 1)[1])
                state = Path(d) / TRIAL_STATE_NAME
                if index >= 1 and state.exists() and not Path(d).with_name(f"checkpoint_{index - 1:06d}").exists():
                    seen[Path(d).parent.name] = json.loads(state.read_text())["epoch"]
            if seen or first.poll() is not None:
                break
            time.sleep(0.05)
        assert first.poll() is None, f"driver ended before it could be killed: {first.stderr.read()[-2000:]}"
        assert seen, "no checkpoint appeared in time"
        print(f"killing the driver after {time.monotonic() - started:.1f}s at {seen}")  # -s shows it
        first.send_signal(signal.SIGKILL)
        first.wait()
        first.stderr.close()
        leftovers = ray_processes(temp_dirs[0], marker)
        assert kill_processes(leftovers, timeout=2) == []
        assert not summary.exists()

        restarted = time.monotonic()
        second = subprocess.run(command(temp_dirs[1]), env=env, capture_output=True, text=True, timeout=240)
        print(f"resumed run: {time.monotonic() - restarted:.1f}s")
        assert second.returncode == 0, second.stderr[-3000:]
        report = json.loads(summary.read_text())
        trials = report["trials"]
        assert len(trials) == 2
        for t in trials:
            assert t["status"] == "TERMINATED" and t["epochs"] == 3, t
            assert t["history"][-1]["epoch"] == 3
            assert t["device"] == "cpu" and t["cuda_visible_devices"] is None  # no GPU: no CUDA_VISIBLE_DEVICES
            checkpoints = glob.glob(str(storage / "exp" / "attempt-*" / t["trial_id"] / "checkpoint_*"))
            assert len(checkpoints) == 1, checkpoints  # stale ones (of both attempts) pruned
        for trial_id in seen:
            # This trial had checkpointed epoch 2 when the driver died. The history holds the results the
            # drivers logged (the last seconds before a SIGKILL may be missing): epoch 1 was trained once,
            # and after the restart (new worker pid) the trial continued from a checkpoint, not from scratch.
            t = next(t for t in trials if t["trial_id"] == trial_id)
            history = t["history"]
            assert [h["epoch"] for h in history].count(1) == 1, history
            after = [h for h in history if h["pid"] != history[0]["pid"]]
            assert after and all(h["restored_from"] >= 1 for h in after), history
        assert (Path(report["best_checkpoint"]) / "checkpoint.pt").is_file()
    finally:
        for temp_dir in temp_dirs:
            kill_processes(ray_processes(temp_dir, marker), timeout=2)
            shutil.rmtree(temp_dir, ignore_errors=True)
    assert ray_processes(None, marker) == []

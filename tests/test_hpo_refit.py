"""Issue 18, the final refit: it trains on every training interaction (the validation part included, never a
test user's), resumes after a kill like any training, and its model is the one a version serves; the best
trial's own model stays beside it. The version-level tests run whole HPOs (Ray) and are marked slow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from hrnn.artifact import LoadedModel
from hrnn.data import load_interactions
from hrnn.data.splits import hpo_splits
from hrnn.recipe import HRNN_RECIPE
from hrnn.synth import generate_interactions, write_interactions
from tuning import arns
from tuning.hpo.refit import REFIT_STATE_NAME, refit, refit_training_data
from tuning.hpo.state import STATE_NAME
from tuning.ray_env import kill_processes, ray_processes
from tuning.request import parse_create_solution
from tuning.run_options import RunOptions
from tuning.version_training import data_config
from tuning.workspace import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hpo_driver import TINY_RANGES, private_ray, tiny_data  # noqa: E402
from local_ops import Local  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BEST = HRNN_RECIPE.values(hidden_dimension=32, bptt=4, batch_size=16, num_negatives=16)


def _weights(model) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def tiny():
    return tiny_data()


# ---- the refit alone (no Ray) ------------------------------------------------------------------------------------

def test_the_refit_trains_on_the_validation_interactions_but_never_on_a_test_user(tiny):
    data, splits = tiny
    train = refit_training_data(data, splits)
    held = splits.validation.relevant(data)[0][-1]  # the validation users' held-out interactions
    assert held > 0
    assert train.n_events == splits.training_data(data).n_events + held
    assert np.array_equal(train.lengths, data.lengths[splits.train])  # every training user's whole history
    assert not set(train.seq_users) & set(data.seq_users[splits.test.users])


class _Killed(Exception):
    pass


def test_an_interrupted_refit_resumes_where_it_stopped_and_ends_as_an_uninterrupted_one(tiny, tmp_path):
    data, splits = tiny
    whole = refit(data, splits, BEST, 3, tmp_path / "whole", device="cpu")
    assert whole.resumed_from == 0 and whole.trainer.epoch == 3 and whole.hyperparameters.epochs == 3

    def kill_after_2(record, trainer):
        if record["epoch"] == 2:
            raise _Killed

    with pytest.raises(_Killed):
        refit(data, splits, BEST, 3, tmp_path / "cut", device="cpu", on_epoch=kill_after_2)
    spent = json.loads((tmp_path / "cut" / REFIT_STATE_NAME).read_text())["seconds"]
    resumed = refit(data, splits, BEST, 3, tmp_path / "cut", device="cpu")
    assert resumed.resumed_from == 2 and [e["epoch"] for e in resumed.epochs] == [1, 2, 3]
    assert resumed.seconds > spent > 0  # the refit's seconds add up over its attempts
    assert _same(_weights(resumed.trainer.model), _weights(whole.trainer.model))


def test_a_checkpoint_of_another_refit_is_not_resumed(tiny, tmp_path):
    data, splits = tiny
    refit(data, splits, BEST.replace(hidden_dimension=40), 2, tmp_path, device="cpu")
    again = refit(data, splits, BEST, 2, tmp_path, device="cpu")
    assert again.resumed_from == 0 and again.trainer.model.hidden == 32
    with pytest.raises(ValueError, match="at least 1 epoch"):
        refit(data, splits, BEST, 0, tmp_path, device="cpu")


# ---- a solution version (HPO on Ray) -----------------------------------------------------------------------------

REQUEST = {
    "name": "refit",
    "recipeArn": "arn:aws:personalize:::recipe/aws-hrnn",
    "performHPO": True,
    "solutionConfig": {
        "algorithmHyperParameters": {"epochs": "3", "batch_size": "16", "num_negatives": "16"},
        "hpoConfig": {
            "hpoResourceConfig": {"maxNumberOfTrainingJobs": "3", "maxParallelTrainingJobs": "2"},
            "algorithmHyperParameterRanges": {
                "integerHyperParameterRanges": TINY_RANGES,
                "categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["true", "false"]}],
            },
        },
    },
}


@pytest.fixture(scope="module")
def interactions(tmp_path_factory):
    return write_interactions(generate_interactions(n_users=300, n_items=150, seed=5),
                              tmp_path_factory.mktemp("refit") / "interactions.csv")


def _version(ops: Local, name: str, options: RunOptions, interactions: Path) -> tuple[str, Path]:
    solution = ops("CreateSolution", **{**REQUEST, "name": name})["solutionArn"]
    arn = ops("CreateSolutionVersion", local={"interactions": str(interactions)}, options=options,
              solutionArn=solution)["solutionVersionArn"]
    return arn, ops.workspace.resolve_version(arn).path


def _expected_refit(interactions: Path, version: Path, tmp: Path):
    """The refit done by hand from the version's record: the best trial's configuration and peak epoch."""
    request = parse_create_solution(REQUEST)
    data = load_interactions(str(interactions), data_config(request))
    splits = hpo_splits(data, request.hyperparameters.seed)
    rows = json.loads((version / "trials.json").read_text())["trials"]
    best = next(r for r in rows if r["role"] == "best")
    hp = request.hyperparameters.replace(**{k: HRNN_RECIPE.lookup(k).parse(best[k])
                                            for k in ("hidden_dimension", "bptt", "recency_mask")})
    return refit(data, splits, hp, best["peak_epoch"], tmp, device="cpu"), best, rows


@pytest.mark.slow
def test_the_refit_model_is_the_one_served(interactions, tmp_path):
    ops = Local(tmp_path / "ws")
    with private_ray(prefix="rr"):
        arn, version = _version(ops, "refit", RunOptions(device="cpu", quiet=True, refit=True), interactions)
    expected, best, rows = _expected_refit(interactions, version, tmp_path / "by-hand")
    served = LoadedModel.load(version / "model")
    kept = LoadedModel.load(version / "best_trial_model")
    assert _same(_weights(served.model), _weights(expected.trainer.model))
    assert not _same(_weights(served.model), _weights(kept.model))
    assert served.info["training"]["refit"]["of"] == best["trial_id"] == kept.info["training"]["trial"]
    assert served.info["training"]["refit"]["epochs"] == best["peak_epoch"]
    assert served.info["hyperparameters"]["epochs"] == str(best["peak_epoch"])

    # The best trial's own model is its checkpoint, kept in the version and named by its row.
    experiment = next((version / "ray").glob("hpo-*"))
    checkpoint = torch.load(experiment / "best_checkpoint" / "checkpoint.pt", weights_only=True)["model"]
    assert _same(_weights(kept.model), checkpoint)
    refit_row = rows[-1]
    assert (best["model"], refit_row["role"], refit_row["model"]) == ("best_trial_model", "refit", "model")
    assert refit_row["trial_id"] == "refit" and refit_row["objective"] is None
    assert refit_row["epochs"] == best["peak_epoch"] and refit_row["bptt"] == best["bptt"]
    assert set(refit_row) == set(best)  # one set of columns for trials.csv

    # GetRecommendations answers from the refit's model; trainingHours counts the trials and the refit.
    user = served.user_ids[0].as_py()
    campaign = ops("CreateCampaign", name="refit", solutionVersionArn=arn)["campaignArn"]
    answer = ops("GetRecommendations", service="personalize-runtime", campaignArn=campaign, userId=user,
                 numResults=10)["itemList"]
    assert answer == served.recommend([user], 10)[0]["itemList"]
    assert [i["score"] for i in answer] != [i["score"] for i in kept.recommend([user], 10)[0]["itemList"]]
    described = ops("DescribeSolutionVersion", solutionVersionArn=arn)["solutionVersion"]
    assert described["trainingHours"] == pytest.approx(sum(r["seconds"] for r in rows) / 3600, abs=2e-6)
    assert described["tunedHPOParams"]["algorithmHyperParameters"] == {
        k: best[k] for k in ("hidden_dimension", "bptt", "recency_mask")}
    assert "refit" in (version / "trials.csv").read_text().splitlines()[-1]


@pytest.mark.slow
def test_without_the_refit_the_best_trial_is_served(interactions, tmp_path):
    ops = Local(tmp_path / "ws")
    with private_ray(prefix="rn"):
        _, version = _version(ops, "norefit", RunOptions(device="cpu", quiet=True), interactions)  # the default
    rows = json.loads((version / "trials.json").read_text())["trials"]
    assert [r["role"] for r in rows].count("best") == 1 and "refit" not in [r["role"] for r in rows]
    best = next(r for r in rows if r["role"] == "best")
    assert best["model"] == "model" and not (version / "best_trial_model").exists()
    served = LoadedModel.load(version / "model")
    experiment = next((version / "ray").glob("hpo-*"))
    checkpoint = torch.load(experiment / "best_checkpoint" / "checkpoint.pt", weights_only=True)["model"]
    assert _same(_weights(served.model), checkpoint)
    assert served.info["training"]["trial"] == best["trial_id"] and "refit" not in served.info["training"]


SLOW_REFIT = """
import sys, time
import tuning.hpo.refit as refit_module
real_fit = refit_module.fit

def fit(*args, on_epoch=None, **kwargs):
    def slow(record, trainer):  # after the refit has recorded the epoch: a window to be killed in
        on_epoch(record, trainer)
        time.sleep(60)
    return real_fit(*args, on_epoch=slow, **kwargs)

refit_module.fit = fit
from tuning.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_kill_during_the_refit_resumes_the_refit_not_the_search(interactions, tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps(REQUEST))
    workspace = tmp_path / "ws"
    marker = uuid.uuid4().hex
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HRNN_TEST_RAY": marker, "OMP_NUM_THREADS": "1"}
    hrnn = [sys.executable, "-c", "from tuning.cli import main; import sys; sys.exit(main(sys.argv[1:]))"]
    made = subprocess.run([*hrnn, "create-solution", str(request), "--workspace", str(workspace), "--quiet"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    command = ["create-solution-version", "--solution-arn", json.loads(made.stdout)["solutionArn"],
               "--interactions", str(interactions), "--workspace", str(workspace), "--device", "cpu", "--refit"]
    versions = workspace / "solutions" / "refit" / "versions"
    first = subprocess.Popen([sys.executable, "-c", SLOW_REFIT, *command], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and first.poll() is None:
            if list(versions.glob(f"*/checkpoint/{REFIT_STATE_NAME}")):
                break
            time.sleep(0.05)
        assert first.poll() is None, f"ended before the refit: {first.stderr.read()[-3000:]}"
        first.send_signal(signal.SIGKILL)
        first.wait()
        first.stderr.close()
        # The search's local Ray was shut down before the refit: a kill then leaves no Ray process behind.
        assert ray_processes(None, f"HRNN_TEST_RAY={marker}") == []
    finally:
        if first.poll() is None:
            first.kill()
        kill_processes(ray_processes(None, f"HRNN_TEST_RAY={marker}"), timeout=2)
    version = next(versions.iterdir())
    search = json.loads(next((version / "ray").glob(f"hpo-*/{STATE_NAME}")).read_text())
    assert search["attempts"] == 1 and all(t["status"] == "TERMINATED" for t in search["trials"])

    again = subprocess.run([*hrnn, *command], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "all 3 trials had finished" in again.stderr  # the search was read back, not run again
    assert json.loads(next((version / "ray").glob(f"hpo-*/{STATE_NAME}")).read_text())["attempts"] == 1
    served = LoadedModel.load(version / "model")
    assert served.info["training"]["refit"]["resumed_from"] == 1  # the epoch its checkpoint had when killed
    if served.info["training"]["refit"]["epochs"] > 1:
        assert "resuming after epoch 1" in again.stderr
    expected, _, _ = _expected_refit(interactions, version, tmp_path / "by-hand")
    assert _same(_weights(served.model), _weights(expected.trainer.model))
    arn = Workspace.at(workspace).store.all(arns.SOLUTION_VERSION)[0].arn
    assert Local(workspace)("DescribeSolutionVersion", solutionVersionArn=arn)["solutionVersion"]["status"] == "ACTIVE"


# ---- the run options that turn them off ----------------------------------------------------------------------------

def test_the_command_line_turns_early_stopping_and_the_refit_off_and_the_version_records_it(tmp_path):
    """``--no-early-stopping`` and ``--refit`` reach the version's job record (what a resume must match); the
    version here fails at once on too little data, after the record is written."""
    few = tmp_path / "few.csv"
    few.write_text("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\nu1,i2,1700000060\n")
    request = tmp_path / "request.json"
    request.write_text(json.dumps(REQUEST))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    hrnn = [sys.executable, "-c", "from tuning.cli import main; import sys; sys.exit(main(sys.argv[1:]))",
            "--workspace", str(tmp_path / "ws")]
    made = subprocess.run([*hrnn, "create-solution", str(request)], env=env, capture_output=True, text=True)
    solution = json.loads(made.stdout)["solutionArn"]
    for flags, expected in (([], (True, False)), (["--no-early-stopping", "--refit"], (False, True)),
                            (["--no-early-stopping"], (False, False))):
        done = subprocess.run([*hrnn, "create-solution-version", "--solution-arn", solution, "--interactions", str(few),
                               "--quiet", *flags], env=env, capture_output=True, text=True)
        assert done.returncode == 254 and "Too little data" in done.stderr, done.stderr
        arn = json.loads(done.stdout)["solutionVersionArn"]
        job = Workspace.at(tmp_path / "ws").store.find(arns.SOLUTION_VERSION, arn).private["job"]
        assert (job["earlyStopping"], job["refit"]) == expected


def test_hrnn_serve_passes_the_options_to_its_trainings(tmp_path):
    import argparse

    from tuning.server.cli import add_serve_command, build_context

    parser = argparse.ArgumentParser()
    add_serve_command(parser.add_subparsers())
    for flags, expected in (([], (True, False)), (["--no-early-stopping", "--refit"], (False, True))):
        args = parser.parse_args(["serve", "--workspace", str(tmp_path), *flags])
        options = build_context(args).run_options
        assert (options.early_stopping, options.refit) == expected


def test_run_options_are_checked_and_part_of_what_a_resume_must_match():
    from hrnn.errors import InvalidInputException

    assert RunOptions().identity() == {"maxEpochs": None, "storage": None, "earlyStopping": True, "refit": False}
    with pytest.raises(InvalidInputException, match="--no-refit: refit 'no' is invalid"):
        RunOptions(refit="no").check()
    with pytest.raises(InvalidInputException, match="--no-early-stopping"):
        RunOptions(early_stopping=1).check()


def test_a_version_resumes_only_with_the_early_stopping_and_refit_it_ran_with(tmp_path):
    """A stopped version trained without early stopping is resumed by the command with the same options; the
    default command (early stopping on) leaves it alone and starts a new version (it was stopped on purpose)."""
    from tuning.solution_version import claim_version

    ops = Local(tmp_path / "ws")
    ops("CreateSolution", **REQUEST)
    store = ops.workspace.store
    solution = store.all(arns.SOLUTION)[0]
    job = {"interactions": "/data/x.csv", **RunOptions(early_stopping=False).identity(), "origin": "cli"}
    old, _ = store.create(arns.SOLUTION_VERSION, "refit/0badc0de", {
        "name": "refit-0badc0de", "solutionVersionArn": solution.arn + "/0badc0de", "solutionArn": solution.arn,
        "status": "CREATE STOPPED"}, job={**job, "pid": 1})
    version, resumed = claim_version(ops.context(), solution, job)
    assert (version.arn, resumed, version.status) == (old.arn, True, "CREATE PENDING")
    store.update(version, {"status": "CREATE STOPPED"})
    other = {**job, **RunOptions().identity()}
    version, resumed = claim_version(ops.context(), solution, other)
    assert not resumed and version.arn != old.arn
    assert store.find(arns.SOLUTION_VERSION, old.arn).status == "CREATE STOPPED"

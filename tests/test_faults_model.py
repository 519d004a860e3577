"""Issue 12, faults around a trained version: damaged or hostile model directories, batch jobs (hostile lines,
output targets that must never be replaced), one training run per solution (a lock that also works across
processes and hosts), and a careless rerun that must not destroy a resumable version.

One tiny version is trained once for the module (one epoch of a 32-dimensional model, in-process).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hrnn.artifact import LoadedModel
from hrnn.data import load_interactions
from hrnn.data.splits import service_split
from hrnn.errors import InvalidInputException, ResourceAlreadyExistsException, ResourceInUseException, \
    ResourceNotFoundException
from hrnn.synth import generate_interactions, write_interactions
from hrnn.training import fit
from tuning import arns
from tuning.request import parse_create_solution
from tuning.run_options import RunOptions
from tuning.workspace import Workspace

from local_ops import Local

RECIPE = "arn:aws:personalize:::recipe/aws-hrnn"
REQUEST = {"name": "model-faults", "recipeArn": RECIPE, "performHPO": False,
           "solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": "32", "bptt": "4", "epochs": "2",
                                                           "batch_size": "16", "num_negatives": "32"}}}
SOLUTION = "arn:aws:personalize:us-east-1:000000000000:solution/model-faults"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("model-faults")
    interactions = write_interactions(generate_interactions(n_users=200, n_items=100, seed=8), root / "i.csv")
    ops = Local(root / "ws", max_epochs=1)
    ops("CreateSolution", **REQUEST)
    arn = ops("CreateSolutionVersion", local={"interactions": str(interactions)}, solutionArn=SOLUTION)[
        "solutionVersionArn"]
    return {"root": root, "ops": ops, "ws": ops.workspace, "arn": arn, "interactions": interactions,
            "model": ops.workspace.resolve_version(arn).model}


@pytest.fixture()
def model_copy(trained, tmp_path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(trained["model"], target)
    return target


# ---- model directories --------------------------------------------------------------------------------------

def _edit_json(path: Path, change) -> None:
    info = json.loads(path.read_text())
    change(info)
    path.write_text(json.dumps(info))


class _Planted:
    """A pickle that would create a file if it were ever unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("damage, words", [
    (lambda d: (d / "model.json").write_text("{not json"), "model.json cannot be read"),
    (lambda d: (d / "model.json").write_text("{}"), "model.json must have the keys"),
    (lambda d: _edit_json(d / "model.json", lambda i: i["model"].update(evil=1)), "out of range"),
    (lambda d: _edit_json(d / "model.json", lambda i: (i.update(n_items=10**12), i["model"].update(n_items=10**12))),
     "out of range"),
    (lambda d: _edit_json(d / "model.json", lambda i: (i.update(n_items=5000), i["model"].update(n_items=5000))),
     "items.arrow has"),
    (lambda d: _edit_json(d / "model.json", lambda i: i["model"].update(hidden_dimension=64)), "weights.pt does not hold"),
    (lambda d: (d / "weights.pt").write_bytes((d / "weights.pt").read_bytes()[:100]), "weights.pt cannot be loaded"),
    (lambda d: (d / "items.arrow").unlink(), "items.arrow cannot be read"),
    (lambda d: (d / "user_states.pt").write_bytes(b"junk"), "user_states.pt cannot be loaded"),
])
def test_a_damaged_model_directory_is_reported(model_copy, damage, words):
    damage(model_copy)
    with pytest.raises(ResourceNotFoundException, match=words):
        LoadedModel.load(model_copy)


def test_a_hostile_weights_pickle_is_refused_and_never_runs(model_copy, tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    (model_copy / "weights.pt").write_bytes(pickle.dumps(_Planted(marker)))
    with pytest.raises(ResourceNotFoundException, match="weights.pt cannot be loaded"):
        LoadedModel.load(model_copy)
    assert not marker.exists()


def test_the_intact_model_still_loads(model_copy):
    model = LoadedModel.load(model_copy)
    assert len(model.recommend(["no-such-user"], 3)[0]["itemList"]) == 3


# ---- batch jobs -----------------------------------------------------------------------------------------------

def _batch(trained, job_input, job_output, overwrite=False):
    return trained["ops"]("CreateBatchInferenceJob", local={"overwrite": overwrite}, solutionVersionArn=trained["arn"],
                          numResults=3, jobInput={"s3DataSource": {"path": str(job_input)}},
                          jobOutput={"s3DataDestination": {"path": str(job_output)}})


def test_hostile_lines_get_their_own_error_and_the_output_is_standard_json(trained, tmp_path):
    job = tmp_path / "in.jsonl"
    lines = ['{"userId": "1"}', '{"userId": ' + "9" * 5000 + "}", "[" * 100_000 + "]" * 100_000,
             '{"userId": "2", "x": NaN}', '{"userId": "3"}']
    job.write_text("\n".join(lines) + "\n")
    _batch(trained, job, tmp_path / "out")
    strict = [json.loads(ln, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c} in the output"))
              for ln in (tmp_path / "out" / "in.jsonl.out").read_text().splitlines()]
    assert [r["error"] is None for r in strict] == [True, False, False, False, True]
    assert "nested more than" in strict[2]["error"] and "NaN" in strict[3]["error"]


def _one_line(tmp_path) -> Path:
    job = tmp_path / "in.jsonl"
    job.write_text('{"userId": "1"}\n')
    return job


def test_job_output_never_replaces_a_fifo_a_socket_a_folder_or_a_symlink(trained, tmp_path):
    import socket

    job = _one_line(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    outputs = {}
    for kind, make in (("a FIFO", os.mkfifo), ("a symbolic link", lambda p: p.symlink_to(victim)),
                       ("a directory", os.mkdir), ("a socket", lambda p: socket.socket(socket.AF_UNIX).bind(str(p)))):
        folder = tmp_path / kind.split()[-1]
        folder.mkdir()
        make(folder / "in.jsonl.out")
        outputs[kind] = folder
    for kind, folder in outputs.items():
        for overwrite in (False, True):
            with pytest.raises(InvalidInputException, match=kind):
                _batch(trained, job, folder, overwrite=overwrite)
    assert stat_is_fifo(outputs["a FIFO"] / "in.jsonl.out")
    assert (outputs["a symbolic link"] / "in.jsonl.out").is_symlink() and victim.read_text() == "keep me"


def stat_is_fifo(path: Path) -> bool:
    import stat

    return stat.S_ISFIFO(os.lstat(path).st_mode)


def test_an_existing_output_is_replaced_only_when_asked(trained, tmp_path):
    job = _one_line(tmp_path)
    out = tmp_path / "in.jsonl.out"
    out.write_text("earlier results\n")
    with pytest.raises(ResourceAlreadyExistsException, match="--overwrite"):
        _batch(trained, job, tmp_path)
    assert out.read_text() == "earlier results\n"
    _batch(trained, job, tmp_path, overwrite=True)
    assert json.loads(out.read_text())["error"] is None


def test_job_output_under_a_file_or_in_proc_is_refused(trained, tmp_path):
    job = _one_line(tmp_path)
    a_file = tmp_path / "file"
    a_file.write_text("")
    for target in (a_file / "out.jsonl", Path("/proc/hrnn-out.jsonl")):
        with pytest.raises(InvalidInputException):
            _batch(trained, job, target)


# ---- one run per solution, and a careless rerun -------------------------------------------------------------------

def _hold_lock(path: Path) -> subprocess.Popen:
    """Another process (think: another host on the shared workspace) holding the solution's lock."""
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'{\"solutionVersionArn\": \"x/1\", \"pid\": 1, "
            "\"host\": \"other\"}'); print('locked', flush=True); time.sleep(60)")
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _version_record(ws: Workspace, status: str, job: dict) -> None:
    name = "model-faults/0badc0de"
    ws.store.create(arns.SOLUTION_VERSION, name, {"name": "model-faults-0badc0de",
                                                 "solutionVersionArn": SOLUTION + "/0badc0de",
                                                 "solutionArn": SOLUTION, "status": status}, job=job)


def test_a_second_run_on_a_solution_is_refused_while_one_trains(trained, tmp_path):
    ops = Local(tmp_path / "ws", max_epochs=1)
    ws = ops.workspace
    ops("CreateSolution", **REQUEST)
    # The first run has just claimed its version (CREATE PENDING, no process id anywhere in it) and holds the
    # lock, from another process (think: another host on the shared workspace).
    _version_record(ws, "CREATE PENDING", {"interactions": str(trained["interactions"].resolve()), "maxEpochs": 1,
                                           "storage": None, "origin": "cli"})
    pending = ws.version("model-faults", "0badc0de")
    before = pending.describe.read_text()
    holder = _hold_lock(ws.store.lock_file(arns.SOLUTION, "model-faults"))
    try:
        with pytest.raises(ResourceInUseException, match="in progress.*0badc0de"):
            ops("CreateSolutionVersion", local={"interactions": str(trained["interactions"])}, solutionArn=SOLUTION)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert [v.id for v in ws.versions("model-faults")] == ["0badc0de"]  # nothing created
    assert pending.describe.read_text() == before  # nor taken over


def _interrupted_version(ws: Workspace, interactions: Path, max_epochs: int | None) -> str:
    """A version whose process died after its first epoch (checkpoint, IN_PROGRESS, job record)."""
    request = parse_create_solution(REQUEST)
    version = ws.version("model-faults", "0badc0de")
    data = load_interactions(interactions)
    fit(data.take(service_split(data, 42).train), request.hyperparameters, device="cpu", max_epochs=1,
        checkpoint_dir=version.checkpoint)
    _version_record(ws, "CREATE IN_PROGRESS", {"interactions": str(interactions.resolve()), "maxEpochs": max_epochs,
                                               "storage": None, "earlyStopping": True, "refit": False, "origin": "cli",
                                               "pid": 1, "host": "gone"})
    return SOLUTION + "/0badc0de"


def test_a_careless_rerun_is_refused_and_the_right_command_still_resumes(trained, tmp_path):
    ops = Local(tmp_path / "ws", max_epochs=1)
    ws = ops.workspace
    ops("CreateSolution", **REQUEST)
    arn = _interrupted_version(ws, trained["interactions"], max_epochs=None)
    version = ws.resolve_version(arn)
    record_before = version.describe.read_text()
    with pytest.raises(ResourceInUseException, match="unfinished.*maxEpochs None.*now 1.*same options"):
        ops("CreateSolutionVersion", local={"interactions": str(trained["interactions"])}, solutionArn=SOLUTION)
    assert version.describe.read_text() == record_before
    assert (version.checkpoint / "checkpoint.pt").exists()
    resumed = ops("CreateSolutionVersion", local={"interactions": str(trained["interactions"])},
                  options=RunOptions(device="cpu", quiet=True), solutionArn=SOLUTION)
    assert resumed == {"solutionVersionArn": arn}
    assert version.read_describe()["status"] == "ACTIVE"
    row = version.read_trials()[0]
    assert [e["epoch"] for e in row["history"]] == [1, 2]  # epoch 1 from the checkpoint
    assert row["started_at"] < row["ended_at"]  # the report's time axis


def test_a_failed_version_still_names_its_arn(trained, tmp_path):
    bad = tmp_path / "few.csv"
    bad.write_text("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\nu1,i2,1700000060\n")
    with pytest.raises(InvalidInputException, match="Too little data") as info:
        trained["ops"]("CreateSolutionVersion", local={"interactions": str(bad)}, solutionArn=SOLUTION)
    arn = info.value.response["solutionVersionArn"]
    assert trained["ops"]("DescribeSolutionVersion", solutionVersionArn=arn)["solutionVersion"]["status"] == \
        "CREATE FAILED"

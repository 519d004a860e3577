"""Issue 12, hostile and careless input: each test reproduces one fault found by the probe and checks the
service's error (named field, value, what is allowed) instead of a traceback, a hang or a silent wrong result.

Requests, the workspace, run options and the Interactions file; in-process and fast (no training here).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from hrnn.data import load_interactions
from hrnn.errors import InvalidInputException, LimitExceededException, ResourceNotFoundException
from hrnn.synth import generate_interactions, write_interactions
from tuning import arns
from tuning.request import load_request, parse_create_solution
from tuning.run_options import RunOptions
from tuning.workspace import Workspace

from local_ops import Local

RECIPE = "arn:aws:personalize:::recipe/aws-hrnn"
REQUEST = {"name": "faults", "recipeArn": RECIPE, "performHPO": False,
           "solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": "32", "epochs": "1"}}}
ARN = "arn:aws:personalize:us-east-1:000000000000:solution/faults"


@pytest.fixture()
def ops(tmp_path):
    local = Local(tmp_path / "ws")
    local("CreateSolution", **REQUEST)
    return local


def parse_solution_arn(arn):
    return arns.Identity().parse(arns.SOLUTION, arn)


def parse_version_arn(arn):
    return tuple(arns.Identity().parse(arns.SOLUTION_VERSION, arn).split("/"))


@pytest.fixture(scope="module")
def interactions(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "interactions.csv"
    write_interactions(generate_interactions(n_users=200, n_items=100, seed=5), path)
    return path


# ---- requests -----------------------------------------------------------------------------------------------

def test_request_from_an_endless_file_is_refused_at_the_size_cap():
    with pytest.raises(InvalidInputException, match="not a regular file|larger than"):
        load_request("file:///dev/zero")


def test_request_from_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "request.fifo"
    os.mkfifo(fifo)
    outcome = {}

    def read():
        try:
            load_request(f"file://{fifo}")
        except InvalidInputException as exc:
            outcome["error"] = exc.message

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the reader before failing, so pytest can end
        with open(fifo, "w") as fh:
            fh.write("{}")
        pytest.fail("reading a FIFO request hung")
    assert "FIFO" in outcome["error"]


def test_oversized_request_is_refused(tmp_path):
    big = tmp_path / "big.json"
    big.write_text('{"name": "' + "x" * (2 << 20) + '"}')
    with pytest.raises(InvalidInputException, match="larger than 1024 KiB"):
        load_request(str(big))


@pytest.mark.parametrize("depth", [100, 986, 988, 100_000])
def test_deep_nesting_is_refused_before_parsing(depth, tmp_path):
    text = '{"name": "deep", "recipeArn": "%s", "tags": %s}' % (RECIPE, "[" * depth + "]" * depth)
    with pytest.raises(InvalidInputException, match="nested more than 64 levels"):
        load_request(text)
    ws = Workspace.at(tmp_path / "ws")
    assert not (tmp_path / "ws").exists()
    with pytest.raises(InvalidInputException):
        Local(ws)("CreateSolution", **load_request(text))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_numbers_are_refused_even_in_ignored_members(constant):
    # hpoConfig is ignored when performHPO is false; a NaN there used to be stored and printed as NaN.
    text = ('{"name": "nan", "recipeArn": "%s", "performHPO": false, "solutionConfig": {"hpoConfig": '
            '{"algorithmHyperParameterRanges": {"continuousHyperParameterRanges": [{"name": "x", "minValue": %s, '
            '"maxValue": 1}]}}}}' % (RECIPE, constant))
    with pytest.raises(InvalidInputException, match="not a JSON number"):
        load_request(text)


def test_messages_that_used_to_mislead(tmp_path):
    with pytest.raises(InvalidInputException, match="names no file"):
        load_request("file://")
    with pytest.raises(InvalidInputException, match="inline request JSON must be a JSON object.*got array"):
        load_request('[{"name": "x"}]')


def test_resubmitting_a_request_with_null_members_is_idempotent(ops):
    same = {**REQUEST, "eventType": None, "datasetGroupArn": None}
    assert ops("CreateSolution", **same) == {"solutionArn": ARN}
    described = ops("DescribeSolution", solutionArn=ARN)["solution"]
    assert "eventType" not in described


@pytest.mark.parametrize("timeout", ["0", "1e-400", "-1", "nan"])
def test_a_session_timeout_that_would_fail_every_version_is_refused_by_create_solution(timeout, tmp_path):
    request = {**REQUEST, "solutionConfig": {"algorithmHyperParameters": {"session_timeout_minutes": timeout}}}
    with pytest.raises(InvalidInputException, match="session_timeout_minutes"):
        Local(tmp_path / "ws")("CreateSolution", **request)


def test_perform_auto_training_false_is_accepted_and_true_refused_clearly():
    assert parse_create_solution({**REQUEST, "performAutoTraining": False}).name == "faults"
    with pytest.raises(InvalidInputException, match="performAutoTraining.*automatic training is not supported"):
        parse_create_solution({**REQUEST, "performAutoTraining": True})


# ---- ARNs and ids ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("arn", [
    "arn:aws:personalize:eu-west-1:000000000000:solution/faults/0badc0de",
    "arn:aws:personalize:us-east-1:123456789012:solution/faults/0badc0de",
    "arn:aws:personalize:::solution/faults/0badc0de",
])
def test_version_arns_of_another_region_or_account_name_nothing_here(arn):
    with pytest.raises(ResourceNotFoundException, match="region"):
        parse_version_arn(arn)


def test_arns_with_a_trailing_newline_are_not_arns():
    with pytest.raises(InvalidInputException):
        parse_version_arn("arn:aws:personalize:us-east-1:000000000000:solution/faults/0badc0de\n")
    with pytest.raises(InvalidInputException):
        parse_solution_arn(ARN + "\n")
    assert parse_version_arn("arn:aws:personalize:us-east-1:000000000000:solution/faults/0badc0de") == (
        "faults", "0badc0de")


def test_a_user_id_longer_than_the_service_allows_is_refused(ops):
    with pytest.raises(InvalidInputException, match="userId.*at most 256 characters"):
        ops("GetRecommendations", service="personalize-runtime", campaignArn=ARN + "/0badc0de", userId="u" * 100_000,
            numResults=5)


# ---- the workspace --------------------------------------------------------------------------------------------

def test_workspace_that_is_a_file_or_under_a_file_or_in_proc(tmp_path, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InvalidInputException, match="not a directory"):
        Workspace.at(a_file)
    for root in (a_file / "ws", Path("/proc/hrnn-ws")):
        with pytest.raises(InvalidInputException, match="Cannot create the workspace"):
            Local(root)("CreateSolution", **REQUEST)
    monkeypatch.setenv("HRNN_WORKSPACE", str(a_file))
    with pytest.raises(InvalidInputException, match="HRNN_WORKSPACE.*not a directory"):
        Workspace.at(None)


def test_uri_workspace_is_refused_and_no_local_s3_directory_appears(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInputException, match="URI"):
        Workspace.at("s3://bucket/ws")
    assert not (tmp_path / "s3:").exists()


def test_a_full_disk_fails_create_solution_cleanly(tmp_path, monkeypatch):
    import hrnn.atomic

    ws = Workspace.at(tmp_path / "ws")
    real = hrnn.atomic.os.replace
    calls = {"n": 0}

    def full(src, dst):  # the solution's record cannot be written
        calls["n"] += 1
        if str(dst).endswith("solution.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(hrnn.atomic.os, "replace", full)
    with pytest.raises(LimitExceededException, match="No space left"):
        Local(ws.root)("CreateSolution", **REQUEST)
    monkeypatch.setattr(hrnn.atomic.os, "replace", real)
    solution = ws.root / "solutions" / "faults"
    assert sorted(p.name for p in solution.iterdir()) == []  # nothing half-written
    assert Local(ws.root)("CreateSolution", **REQUEST) == {"solutionArn": ARN}  # and it can be created afterwards


def test_a_full_disk_during_training_still_records_create_failed(ops, interactions, monkeypatch):
    """The failure status is written in place when a new file cannot be created at all."""
    import hrnn.atomic
    import tuning.version_training as training

    def disk_full(*args, **kwargs):
        monkeypatch.setattr(hrnn.atomic.tempfile, "mkstemp", _enospc)  # from now on no new file fits
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(training, "train_or_tune", disk_full)
    with pytest.raises(LimitExceededException, match="No space left") as info:
        ops("CreateSolutionVersion", local={"interactions": str(interactions)}, solutionArn=ARN)
    arn = info.value.response["solutionVersionArn"]
    described = json.loads(ops.workspace.resolve_version(arn).describe.read_text())["public"]
    assert described["status"] == "CREATE FAILED" and "No space left" in described["failureReason"]


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_workspace_files_follow_the_umask(tmp_path):
    previous = os.umask(0o002)
    try:
        ops = Local(tmp_path / "ws")
        ops("CreateSolution", **REQUEST)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(ops.workspace.store.file(arns.SOLUTION, "faults").stat().st_mode) == 0o664


@pytest.mark.parametrize("content", ["{not json", "{}", '{"public": []}', "[1]"])
def test_a_damaged_describe_json_is_reported_not_a_traceback(ops, content):
    version = ops.workspace.version("faults", "0badc0de")
    version.path.mkdir(parents=True)
    version.describe.write_text(content)
    with pytest.raises(ResourceNotFoundException, match="damaged"):
        ops("DescribeSolutionVersion", solutionVersionArn=ARN + "/0badc0de")
    assert ops("ListSolutionVersions", solutionArn=ARN) == {"solutionVersions": []}  # left out of lists


@pytest.mark.parametrize("content", ["{not json", "{}", '{"public": []}', "[1]"])
def test_a_damaged_resource_record_is_reported_not_a_traceback(tmp_path, content):
    from tuning.store import Store

    store = Store(tmp_path, arns.Identity())
    store.create(arns.SCHEMA, "kept", {"name": "kept"}, {"name": "kept"})
    path = store.file(arns.SCHEMA, "broken")
    path.write_text(content)
    with pytest.raises(ResourceNotFoundException, match="damaged"):
        store.get(arns.SCHEMA, "broken")
    assert [r.name for r in store.all(arns.SCHEMA)] == ["kept"]  # left out of lists
    with pytest.raises(ResourceNotFoundException, match="does not exist"):
        store.get(arns.SCHEMA, "absent")


# ---- run options -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, words", [
    (RunOptions(device="bogus"), "--device 'bogus' is invalid"),
    (RunOptions(device="cuda:99"), "not available"),
    (RunOptions(max_epochs=0), "--max-epochs 0"),
    (RunOptions(max_epochs=-3), "--max-epochs -3"),
    (RunOptions(gpus_per_trial=float("inf")), "--gpus-per-trial inf"),
    (RunOptions(gpus_per_trial=float("nan")), "--gpus-per-trial nan"),
    (RunOptions(storage="bogus://x"), "unknown scheme 'bogus'"),
])
def test_bad_run_options_are_refused_before_anything_starts(ops, interactions, options, words):
    with pytest.raises(InvalidInputException, match=words.replace("(", r"\(")):
        ops("CreateSolutionVersion", local={"interactions": str(interactions)}, options=options, solutionArn=ARN)
    assert ops.workspace.versions("faults") == []  # no version was created


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_on_a_machine_without_cuda_is_refused(ops, interactions, monkeypatch, device):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(InvalidInputException, match="no CUDA device"):
        ops("CreateSolutionVersion", local={"interactions": str(interactions)},
            options=RunOptions(device=device, quiet=True), solutionArn=ARN)
    assert ops.workspace.versions("faults") == []


def test_storage_that_is_a_file_is_refused(ops, interactions, tmp_path):
    a_file = tmp_path / "storage"
    a_file.write_text("")
    with pytest.raises(InvalidInputException, match="not a directory"):
        ops("CreateSolutionVersion", local={"interactions": str(interactions)}, options=RunOptions(storage=str(a_file)),
            solutionArn=ARN)


def test_interactions_symlink_loop_and_uris(ops, tmp_path, monkeypatch):
    loop = tmp_path / "loop.csv"
    os.symlink(loop, loop)
    with pytest.raises(InvalidInputException, match="loop.csv"):
        ops("CreateSolutionVersion", local={"interactions": str(loop)}, solutionArn=ARN)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInputException, match="only local files"):
        ops("CreateSolutionVersion", local={"interactions": "s3://bucket/interactions.csv"}, solutionArn=ARN)
    assert not (tmp_path / "s3:").exists()
    assert ops.workspace.versions("faults") == []


# ---- the Interactions file --------------------------------------------------------------------------------------

def test_csv_written_with_quote_all_is_read(tmp_path):
    import csv

    rng = np.random.default_rng(0)
    path = tmp_path / "quoted.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"])
        for i in range(1200):
            writer.writerow([f"u{i % 60}", f"i{rng.integers(50)}", 1_700_000_000 + i * 60, "click",
                             "" if i % 3 else "0.5"])
    data = load_interactions(path)
    assert data.n_events == 1200


def test_a_plus_sign_timestamp_is_named_as_such(tmp_path):
    path = tmp_path / "plus.csv"
    path.write_text("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1712424735\nu1,i2,+1712424735\n")
    with pytest.raises(InvalidInputException, match=r"'\+1712424735' is written with a '\+' sign"):
        load_interactions(path)


def _with_times(tmp_path, times) -> Path:
    table = generate_interactions(n_users=100, n_items=60, seed=2)
    import pyarrow as pa

    table = table.set_column(table.column_names.index("TIMESTAMP"), "TIMESTAMP", pa.array(times, pa.int64()))
    return write_interactions(table, tmp_path / "times.csv")


@pytest.mark.parametrize("bad", [9_999_999_999, 2**63 - 1])
def test_one_far_future_timestamp_is_refused_with_its_row(tmp_path, bad):
    base = generate_interactions(n_users=100, n_items=60, seed=2).column("TIMESTAMP").to_numpy().copy()
    base[17] = bad
    with pytest.raises(InvalidInputException, match=rf"row 18: TIMESTAMP {bad} is .*in the future"):
        load_interactions(_with_times(tmp_path, base))


def test_millisecond_timestamps_are_refused_with_the_hint(tmp_path):
    base = generate_interactions(n_users=100, n_items=60, seed=2).column("TIMESTAMP").to_numpy() * 1000
    with pytest.raises(InvalidInputException, match="in milliseconds.*divide by 1,000"):
        load_interactions(_with_times(tmp_path, base))

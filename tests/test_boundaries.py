"""Issue 16: every path and URI rule holds through both front ends, the ``hrnn`` command and ``hrnn serve``.

Each row of the matrix is one rule, and runs through each front end: an import or a batch job whose location
escapes the data directory through a link (reading or writing), names another host through an S3 URI's
query, lands on an existing output, a FIFO or a link, or carries text that is not text. A rule may refuse the
request at once or fail the job it started; either way the reason names the rule, nothing outside the data
directory is read or written, and nothing hangs.

One tiny version is trained in-process; the endpoint is a real ``hrnn serve`` on the same workspace, with
``--data-dir`` the data folder, and the command line is given the same ``--data-dir``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from hrnn.synth import generate_interactions, write_interactions
from tuning import cli

from local_ops import Local
from server_helpers import ROLE_ARN, INTERACTIONS_SCHEMA, Server, client

pytestmark = pytest.mark.slow

RECIPE = "arn:aws:personalize:::recipe/aws-hrnn"
REQUEST = {"name": "edges", "recipeArn": RECIPE, "performHPO": False,
           "solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": "32", "bptt": "4", "epochs": "1",
                                                           "batch_size": "16", "num_negatives": "16"}}}
ERROR_LINE = re.compile(r"^An error occurred \((\w+)\) when calling the (\w+) operation: (.+)$")
FINAL = ("ACTIVE", "CREATE FAILED")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("edges")
    data, outside = root / "data", root / "outside"
    data.mkdir()
    outside.mkdir()
    write_interactions(generate_interactions(n_users=150, n_items=80, seed=2), data / "interactions.csv")
    (outside / "secret.txt").write_text("aws_secret_access_key = NOT-FOR-YOU-0123456789abcdef\n")
    ops = Local(root / "ws")
    ops("CreateSolution", **REQUEST)
    version = ops("CreateSolutionVersion", local={"interactions": str(data / "interactions.csv")},
                  solutionArn=ops.workspace.store.arn("solution", "edges"))["solutionVersionArn"]
    schema = ops("CreateSchema", name="edges", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    group = ops("CreateDatasetGroup", name="edges")["datasetGroupArn"]
    dataset = ops("CreateDataset", name="edges", schemaArn=schema, datasetGroupArn=group,
                  datasetType="Interactions")["datasetArn"]
    server = Server(root / "ws", "--data-dir", str(data))
    yield {"root": root, "data": data, "outside": outside, "version": version, "dataset": dataset,
           "api": client(server.endpoint, validate_params=False), "server": server, "names": iter(range(10**6))}
    server.stop()


class Refused(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message = kind, message


def _cli(world, operation: str, request: dict) -> dict:
    out, err = io.StringIO(), io.StringIO()
    argv = [cli.arguments.kebab(operation), "--cli-input-json", json.dumps(request), "--workspace",
            str(world["root"] / "ws"), "--data-dir", str(world["data"]), "--quiet"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    if code != 0:
        match = ERROR_LINE.match(err.getvalue().strip().splitlines()[-1])
        assert match and code == 254, err.getvalue()
        raise Refused(match.group(1), match.group(3))
    return json.loads(out.getvalue())


def _endpoint(world, operation: str, request: dict) -> dict:
    api = world["api"]
    method = getattr(api, cli.arguments.kebab(operation).replace("-", "_"))
    try:
        return method(**request)
    except ClientError as exc:
        raise Refused(exc.response["Error"]["Code"], exc.response["Error"]["Message"]) from None


FRONTS = {"cli": _cli, "endpoint": _endpoint}
JOBS = {"CreateDatasetImportJob": ("DescribeDatasetImportJob", "datasetImportJobArn", "datasetImportJob"),
        "CreateBatchInferenceJob": ("DescribeBatchInferenceJob", "batchInferenceJobArn", "batchInferenceJob")}


def outcome(world, front: str, operation: str, request: dict, timeout: float = 120) -> tuple[str, str | None]:
    """("ok", None), or (the error or "CREATE FAILED", its message), the job waited for."""
    try:
        answer = FRONTS[front](world, operation, request)
    except Refused as exc:
        return exc.kind, exc.message
    describe, member, key = JOBS[operation]
    deadline = time.monotonic() + timeout
    while True:
        record = FRONTS[front](world, describe, {member: answer[member]})[key]
        if record["status"] in FINAL:
            return ("ok", None) if record["status"] == "ACTIVE" else ("CREATE FAILED", record["failureReason"])
        assert time.monotonic() < deadline, record
        time.sleep(0.2)


def _import(world, location: str) -> dict:
    return {"jobName": f"import-{next(world['names'])}", "datasetArn": world["dataset"], "roleArn": ROLE_ARN,
            "dataSource": {"dataLocation": location}}


def _batch(world, source: str, target: str) -> dict:
    return {"jobName": f"batch-{next(world['names'])}", "solutionVersionArn": world["version"], "roleArn": ROLE_ARN,
            "numResults": 3, "jobInput": {"s3DataSource": {"path": source}},
            "jobOutput": {"s3DataDestination": {"path": target}}}


def _folder(world, name: str) -> Path:
    folder = world["data"] / name
    folder.mkdir()
    return folder


def _users(folder: Path) -> Path:
    path = folder / "users.jsonl"
    path.write_text('{"userId": "1"}\n')
    return path


# ---- the matrix -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("front", FRONTS)
def test_a_batch_output_through_a_link_is_refused_and_the_target_kept(world, front):
    folder = _folder(world, f"write-link-{front}")
    victim = world["outside"] / f"victim-{front}.txt"
    victim.write_text("keep me")
    (folder / "users.jsonl.out").symlink_to(victim)
    kind, message = outcome(world, front, "CreateBatchInferenceJob", _batch(world, str(_users(folder)), str(folder)))
    assert kind != "ok" and "symbolic link" in message, message
    assert victim.read_text() == "keep me" and (folder / "users.jsonl.out").is_symlink()


@pytest.mark.parametrize("front", FRONTS)
def test_a_link_out_of_the_data_directory_is_never_read(world, front):
    folder = _folder(world, f"read-link-{front}")
    (folder / "a.csv").symlink_to(world["outside"] / "secret.txt")
    kind, message = outcome(world, front, "CreateDatasetImportJob", _import(world, str(folder)))
    assert kind != "ok" and "symbolic link" in message, message
    kind, message = outcome(world, front, "CreateDatasetImportJob", _import(world, str(folder / "a.csv")))
    assert kind == "InvalidInputException" and "outside the directories" in message, message
    kind, message = outcome(world, front, "CreateBatchInferenceJob",
                            _batch(world, str(folder / "a.csv"), str(_folder(world, f"read-link-out-{front}"))))
    assert kind == "InvalidInputException" and "outside the directories" in message, message


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("uri", ["s3://bucket/key?endpoint_override=127.0.0.1:9&scheme=http",
                                 "s3://bucket/key#fragment", "s3://user:pass@bucket/key", "s3://bucket:9000/key",
                                 "http://127.0.0.1:9/key", "file://other-host/etc/passwd"])
def test_a_uri_chooses_a_bucket_and_a_key_nothing_else(world, front, uri):
    for operation, request in (("CreateDatasetImportJob", _import(world, uri)),
                               ("CreateBatchInferenceJob", _batch(world, uri, str(world["data"] / "out")))):
        kind, message = outcome(world, front, operation, request)
        assert kind == "InvalidInputException", (operation, kind, message)


@pytest.mark.parametrize("front", FRONTS)
def test_an_existing_output_is_never_replaced(world, front):
    folder = _folder(world, f"existing-{front}")
    (folder / "users.jsonl.out").write_text("earlier results\n")
    kind, message = outcome(world, front, "CreateBatchInferenceJob", _batch(world, str(_users(folder)), str(folder)))
    assert kind == "ResourceAlreadyExistsException" and "already exists" in message, message
    assert (folder / "users.jsonl.out").read_text() == "earlier results\n"


@pytest.mark.parametrize("front", FRONTS)
def test_a_fifo_never_hangs_a_job(world, front):
    folder = _folder(world, f"fifo-{front}")
    os.mkfifo(folder / "users.jsonl.out")
    started = time.monotonic()
    kind, message = outcome(world, front, "CreateBatchInferenceJob", _batch(world, str(_users(folder)), str(folder)))
    assert kind != "ok" and "a FIFO" in message, message
    os.mkfifo(folder / "events.csv")
    kind, message = outcome(world, front, "CreateDatasetImportJob", _import(world, str(folder / "events.csv")))
    assert kind != "ok" and "a FIFO" in message and "does not exist" not in message, message
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("data_source, words", [({}, "dataLocation"), ({"dataLocation": None}, "dataLocation"),
                                                ({"dataLocation": "\ud800.csv"}, "surrogate"),
                                                ({"dataLocation": "a\x00.csv"}, "NUL")])
def test_a_data_source_that_names_nothing_is_invalid_input(world, front, data_source, words):
    request = {**_import(world, "x"), "dataSource": data_source}
    kind, message = outcome(world, front, "CreateDatasetImportJob", request)
    assert kind == "InvalidInputException" and words in message, message


@pytest.mark.parametrize("front", FRONTS)
def test_an_import_checks_the_data_and_names_the_callers_file_and_row(world, front):
    future = world["data"] / f"future-{front}.csv"
    future.write_text("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\nu1,i2,99999999999\n")
    kind, message = outcome(world, front, "CreateDatasetImportJob", _import(world, str(future)))
    assert kind != "ok" and str(future) in message and "row 2" in message and "future" in message, message
    assert "staging" not in message


@pytest.mark.parametrize("front", FRONTS)
def test_a_batch_job_echoes_no_more_than_a_short_prefix_of_a_bad_line(world, front):
    folder = _folder(world, f"echo-{front}")
    source = folder / "credentials.jsonl"
    source.write_text((world["outside"] / "secret.txt").read_text() + '{"userId": "1"}\n')
    kind, message = outcome(world, front, "CreateBatchInferenceJob", _batch(world, str(source), str(folder)))
    assert kind == "ok", message
    rows = [json.loads(line) for line in (folder / "credentials.jsonl.out").read_text().splitlines()]
    assert rows[0]["error"] and len(rows[0]["input"]) < 60 and "0123456789abcdef" not in rows[0]["input"]
    assert rows[1]["error"] is None


# ---- the command line confines only when asked ----------------------------------------------------------------

def test_the_command_line_reaches_any_path_without_data_dir_and_none_outside_with_it(world, tmp_path):
    users = _users(tmp_path)
    ops = Local(world["root"] / "ws")
    answer = ops("CreateBatchInferenceJob", **_batch(world, str(users), str(tmp_path / "out")))
    assert (tmp_path / "out" / "users.jsonl.out").exists() and answer["batchInferenceJobArn"]
    confined = Local(world["root"] / "ws", data_dirs=[world["data"]])
    with pytest.raises(Exception, match="outside the directories"):
        confined("CreateBatchInferenceJob", **_batch(world, str(users), str(tmp_path / "out2")))

"""The ``hrnn`` command line end to end, in subprocesses, on a tiny generated Interactions file.

One module-scoped fixture creates the solution and trains its version once (``performHPO: false``, one
epoch of a 32-dimensional model); every other test reads that version. Errors must print
``An error occurred (<type>) when calling the <Operation> operation: <message>`` on stderr as the AWS CLI
does, exit 254 and show no traceback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from hrnn.evaluation.metrics import SERVICE_METRIC_NAMES
from hrnn.synth import generate_interactions, write_interactions
from tuning.workspace import Workspace

RECIPE_ARN = "arn:aws:personalize:::recipe/aws-hrnn"
SOLUTION_ARN = re.compile(r"^arn:aws:personalize:us-east-1:000000000000:solution/tiny-cli$")
VERSION_ARN = re.compile(r"^arn:aws:personalize:us-east-1:000000000000:solution/tiny-cli/[0-9a-f]{8}$")
REQUEST = {
    "name": "tiny-cli",
    "recipeArn": RECIPE_ARN,
    "performHPO": False,
    "solutionConfig": {"algorithmHyperParameters": {
        "hidden_dimension": "32", "bptt": "4",
        "epochs": "1", "batch_size": "16", "num_negatives": "64",
    }},
}
SCRIPT = Path(sys.executable).with_name("hrnn")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "hrnn.cli"]
# One intra-op thread: the model is tiny, and on a busy machine idle OpenMP threads cost more than they give.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
ENV.pop("HRNN_WORKSPACE", None)


def hrnn(*args, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *map(str, args)], capture_output=True, text=True, env=ENV, cwd=cwd,
                          timeout=timeout)


def ok(*args, **kwargs) -> dict:
    proc = hrnn(*args, **kwargs)
    assert proc.returncode == 0, f"hrnn {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


ERROR_LINE = re.compile(r"^An error occurred \((\w+)\) when calling the (\w+) operation: (.+)$")


def service_error(proc: subprocess.CompletedProcess, type_name: str, *words: str, stdout_empty: bool = True) -> dict:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 254, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    if stdout_empty:
        assert proc.stdout.strip() == ""
    match = ERROR_LINE.match(proc.stderr.strip().splitlines()[-1])
    assert match, proc.stderr
    error = {"__type": match.group(1), "operation": match.group(2), "message": match.group(3)}
    assert error["__type"] == type_name, error
    for word in words:
        assert word in error["message"], error
    return error


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    table = generate_interactions(n_users=300, n_items=150, seed=3)
    interactions = write_interactions(table, root / "interactions.csv")
    request = root / "request.json"
    request.write_text(json.dumps(REQUEST))
    ws = root / "ws"
    solution = ok("create-solution", request, "--workspace", ws, "--quiet")["solutionArn"]
    arn = ok("create-solution-version", "--solution-arn", solution, "--interactions", interactions,
             "--workspace", ws, "--quiet", "--device", "cpu")["solutionVersionArn"]
    counts = Counter(table.column("USER_ID").to_pylist())
    median = sorted(counts.values())[len(counts) // 2]
    known_user = next(u for u, n in sorted(counts.items()) if n == median)  # kept by the 99th-percentile filter
    return {"root": root, "ws": ws, "solution": solution, "arn": arn, "interactions": interactions,
            "known_user": known_user, "users": set(counts), "items": set(table.column("ITEM_ID").to_pylist())}


def _version_dir(version) -> Path:
    return Workspace.at(version["ws"]).resolve_version(version["arn"]).path


def test_create_solution_and_version(version):
    assert SOLUTION_ARN.match(version["solution"])
    assert VERSION_ARN.match(version["arn"])
    described = ok("describe-solution", "--solution-arn", version["solution"], "--workspace", version["ws"])
    assert described["solution"]["performHPO"] is False
    assert described["solution"]["recipeArn"] == RECIPE_ARN


def test_describe_solution_version(version):
    described = ok("describe-solution-version", "--solution-version-arn", version["arn"], "--workspace", version["ws"])
    v = described["solutionVersion"]
    assert v["status"] == "ACTIVE"
    assert v["solutionVersionArn"] == version["arn"]
    assert v["performHPO"] is False
    assert "tunedHPOParams" not in v
    assert "failureReason" not in v
    assert v["trainingHours"] >= 0
    assert v["solutionConfig"] == REQUEST["solutionConfig"]


def test_get_solution_metrics(version):
    out = ok("get-solution-metrics", "--solution-version-arn", version["arn"], "--workspace", version["ws"])
    assert out["solutionVersionArn"] == version["arn"]
    metrics = out["metrics"]
    assert list(metrics) == list(SERVICE_METRIC_NAMES)
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in metrics.values()), metrics


def _popularity_top(version, k: int) -> list[str]:
    """The fallback list: the model directory's training counts, ties to the lower item index."""
    with pa.memory_map(str(_version_dir(version) / "model" / "items.arrow")) as source:
        items = pa.ipc.open_file(source).read_all()
    counts = items.column("count").to_numpy()
    order = np.argsort(-counts, kind="stable")[:k]
    return [items.column("item_id")[int(i)].as_py() for i in order]


def test_get_recommendations_known_and_unknown_user(version):
    common = ("--solution-version-arn", version["arn"], "--workspace", version["ws"], "--num-results", 5)
    known = ok("get-recommendations", "--user-id", version["known_user"], *common)
    unknown = ok("get-recommendations", "--user-id", "no-such-user-42", *common)
    for out in (known, unknown):
        assert out["recommendationId"].startswith("RID-")
        items = [x["itemId"] for x in out["itemList"]]
        scores = [x["score"] for x in out["itemList"]]
        assert len(items) == 5 and len(set(items)) == 5
        assert set(items) <= version["items"]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
    assert [x["itemId"] for x in unknown["itemList"]] == _popularity_top(version, 5)
    assert known["itemList"] != unknown["itemList"], "a known user is scored by the model"


def test_create_batch_inference_job(version):
    job = version["root"] / "batch.jsonl"
    users = [version["known_user"], "no-such-user-42"]
    lines = [json.dumps({"userId": users[0]}), json.dumps({"userId": users[1]}), "{not json",
             json.dumps({"userId": ""}), json.dumps([1, 2]), json.dumps({"userId": users[0], "itemId": "x"})]
    job.write_text("\n".join(lines) + "\n")
    folder = version["root"] / "batch-out"  # a folder, as the service's jobOutput: made if missing
    target = folder / "batch.jsonl.out"
    proc = hrnn("create-batch-inference-job", "--solution-version-arn", version["arn"], "--workspace", version["ws"],
                "--job-input", job, "--job-output", folder, "--num-results", 3)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"batchInferenceJobArn"}  # the service's response; the counts go to stderr
    assert f"wrote 6 records (3 with an error) to {target}" in proc.stderr
    assert re.fullmatch(r"arn:aws:personalize:us-east-1:000000000000:batch-inference-job/batch-[0-9a-f]{8}",
                        out["batchInferenceJobArn"])
    described = ok("describe-batch-inference-job", "--batch-inference-job-arn", out["batchInferenceJobArn"],
                   "--workspace", version["ws"])["batchInferenceJob"]
    assert described["status"] == "ACTIVE" and described["solutionVersionArn"] == version["arn"]
    rows = [json.loads(ln) for ln in target.read_text().splitlines()]
    assert len(rows) == len(lines)
    for i in (0, 1, 5):
        assert rows[i]["error"] is None
        assert len(rows[i]["output"]["recommendedItems"]) == 3
        assert rows[i]["output"]["scores"] == sorted(rows[i]["output"]["scores"], reverse=True)
    assert rows[0]["input"] == {"userId": users[0]}
    assert rows[0]["output"] == rows[5]["output"]
    for i in (2, 3, 4):
        assert rows[i]["output"] is None and isinstance(rows[i]["error"], str) and rows[i]["error"]
    assert rows[2]["input"] == "{not json"


def test_report_of_the_version(version):
    """tuning.report on a real version directory (in-process: it needs no model)."""
    import xml.etree.ElementTree as ET

    from tuning.report import write_report

    path = write_report(Workspace.at(version["ws"]).resolve_version(version["arn"]))
    root = ET.fromstring(path.read_text())
    charts = list(root.iter("{http://www.w3.org/2000/svg}svg"))
    assert [c.get("id") for c in charts] == ["chart-learning-curve"]  # one model: no search to chart
    assert version["arn"] in path.read_text()


def test_list_and_describe_recipe():
    recipes = ok("list-recipes")["recipes"]
    assert any(r["recipeArn"] == RECIPE_ARN and r["name"] == "aws-hrnn" for r in recipes)
    described = ok("describe-recipe", "--recipe-arn", RECIPE_ARN)
    assert set(described) == {"recipe"} and described["recipe"]["recipeArn"] == RECIPE_ARN
    algorithm = ok("describe-algorithm", "--algorithm-arn", described["recipe"]["algorithmArn"])["algorithm"]
    ranges = algorithm["defaultHyperParameterRanges"]
    bptt = next(r for r in ranges["integerHyperParameterRanges"] if r["name"] == "bptt")
    assert bptt["isTunable"] and bptt["maxValue"] == 32
    assert any(r["name"] == "recency_mask" for r in ranges["categoricalHyperParameterRanges"])
    service_error(hrnn("describe-recipe", "--recipe-arn", "arn:aws:personalize:::recipe/aws-sims"),
                  "ResourceNotFoundException", "aws-sims")


# ---- errors ------------------------------------------------------------------------------------------------

def test_malformed_json_request(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "recipeArn": ')
    service_error(hrnn("create-solution", bad, "--workspace", tmp_path / "ws"), "InvalidInputException",
                  "Malformed JSON", "line 1")
    assert not (tmp_path / "ws").exists()


def test_missing_request_file(tmp_path):
    """A missing input document is a usage error (252), as for the AWS CLI; a missing request file given as the
    request itself is the request's problem (254)."""
    proc = hrnn("create-solution", "--cli-input-json", f"file://{tmp_path}/nope.json", "--workspace", tmp_path / "ws")
    assert proc.returncode == 252 and "nope.json" in proc.stderr and "Traceback" not in proc.stderr
    service_error(hrnn("create-solution", tmp_path / "nope.json", "--workspace", tmp_path / "ws"),
                  "InvalidInputException", "nope.json")


def test_request_the_service_would_refuse(tmp_path):
    request = {"name": "bad-range", "recipeArn": RECIPE_ARN, "performHPO": True, "solutionConfig": {"hpoConfig": {
        "algorithmHyperParameterRanges": {"integerHyperParameterRanges": [
            {"name": "bptt", "minValue": 20, "maxValue": 40}]}}}}
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    service_error(hrnn("create-solution", path, "--workspace", tmp_path / "ws"), "InvalidInputException", "bptt")
    assert not (tmp_path / "ws" / "solutions" / "bad-range").exists()


def test_unknown_solution_arn(version):
    missing = "arn:aws:personalize:us-east-1:000000000000:solution/does-not-exist"
    service_error(hrnn("create-solution-version", "--solution-arn", missing, "--interactions",
                       version["interactions"], "--workspace", version["ws"], "--quiet"),
                  "ResourceNotFoundException", "does-not-exist")


def test_missing_interactions_file(tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps(REQUEST))
    solution = ok("create-solution", request, "--workspace", tmp_path / "ws", "--quiet")["solutionArn"]
    service_error(hrnn("create-solution-version", "--solution-arn", solution, "--interactions",
                       tmp_path / "missing.csv", "--workspace", tmp_path / "ws", "--quiet"),
                  "InvalidInputException", "missing.csv", "does not exist")


@pytest.mark.parametrize("num_results", [0, 501])
def test_num_results_out_of_range(version, num_results):
    service_error(hrnn("get-recommendations", "--solution-version-arn", version["arn"], "--workspace", version["ws"],
                       "--user-id", version["known_user"], "--num-results", num_results),
                  "InvalidInputException", "numResults", "500")


def test_usage_error_exits_252_without_traceback():
    proc = hrnn("describe-solution-version")
    assert proc.returncode == 252
    assert "--solution-version-arn" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_main_job_tunes_the_example_hpo_request_on_the_sample(tmp_path):
    """The README's main job: the SEED HPO request (4 jobs, 2 parallel) on the embedded sample, one epoch
    per trial to keep CI short; it returns tunedHPOParams like DescribeSolutionVersion."""
    result = ok("run", "--workspace", tmp_path / "ws", "--max-epochs", "1", "--quiet", timeout=600)
    assert result["status"] == "ACTIVE"
    tuned = result["tunedHPOParams"]["algorithmHyperParameters"]
    assert set(tuned) == {"hidden_dimension", "bptt", "recency_mask"}
    assert tuned["hidden_dimension"] == "55"  # fixed in the request
    assert 8 <= int(tuned["bptt"]) <= 32 and tuned["recency_mask"] in ("true", "false")
    assert set(result["metrics"]) == {
        "coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_5",
        "normalized_discounted_cumulative_gain_at_10", "normalized_discounted_cumulative_gain_at_25",
        "precision_at_5", "precision_at_10", "precision_at_25"}
    trials = json.loads((Path(result["results"]) / "trials.json").read_text())["trials"]
    assert len(trials) == 4 and all(t["status"] == "TERMINATED" for t in trials)
    best = max(trials, key=lambda t: t["objective"])
    assert {k: best[k] for k in tuned} == tuned and best["role"] == "best"
    assert best["model"] == "model"  # no final refit by default: the best trial's model is served

"""Issue 12, the AWS CLI's conventions (v2 is the reference; botocore's service model is the contract): global
options anywhere, --output json|text|table, --query, --generate-cli-skeleton, --cli-input-json/--cli-input-yaml
on every command, --version, --no-cli-pager, help for every option, the CLI's error line and exit codes
(254 service, 252 usage), the ARN of a failed version, list-solution-versions, latestSolutionVersion, and
every JSON output checked against botocore's output shape.

In-process (``tuning.cli.main``) on one tiny version trained once for the module.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from hrnn.synth import generate_interactions, write_interactions
from tuning import cli
from tuning.contract import shapes
from tuning.shapes import validate

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "arn:aws:personalize:::recipe/aws-hrnn"
REQUEST = {"name": "cli-faults", "recipeArn": RECIPE, "performHPO": False,
           "solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": "32", "bptt": "4", "epochs": "1",
                                                           "batch_size": "16", "num_negatives": "32"}}}
SOLUTION = "arn:aws:personalize:us-east-1:000000000000:solution/cli-faults"
ERROR_LINE = re.compile(r"^An error occurred \((\w+)\) when calling the (\w+) operation: (.+)$")


def service_shapes() -> dict:
    return shapes("personalize")


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own exits (usage errors, --version)
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def ok(capsys, *argv):
    rc, out, err = run(capsys, *argv)
    assert rc == 0, err
    return json.loads(out) if out.strip() else None


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-faults")
    interactions = write_interactions(generate_interactions(n_users=200, n_items=100, seed=9), root / "i.csv")
    request = root / "request.json"
    request.write_text(json.dumps(REQUEST))
    ws = root / "ws"
    assert cli.main(["create-solution", str(request), "--workspace", str(ws)]) == 0
    assert cli.main(["create-solution-version", "--solution-arn", SOLUTION, "--interactions", str(interactions),
                     "--workspace", str(ws), "--device", "cpu", "--quiet"]) == 0
    from tuning.workspace import Workspace

    arn = Workspace.at(ws).versions("cli-faults")[-1]
    return {"root": root, "ws": ws, "interactions": interactions,
            "arn": f"{SOLUTION}/{arn.id}"}


def test_global_options_before_or_after_the_command(capsys, version):
    ws = version["ws"]
    before = ok(capsys, "--workspace", ws, "describe-solution", "--solution-arn", SOLUTION)
    after = ok(capsys, "describe-solution", "--solution-arn", SOLUTION, "--workspace", ws)
    assert before == after and before["solution"]["solutionArn"] == SOLUTION
    assert ok(capsys, "--workspace", ws, "--no-cli-pager", "list-recipes")["recipes"][0]["recipeArn"] == RECIPE


def test_output_text_table_and_query(capsys, version):
    common = ("--workspace", version["ws"], "describe-solution-version", "--solution-version-arn", version["arn"])
    rc, out, _ = run(capsys, *common, "--query", "solutionVersion.status", "--output", "text")
    assert (rc, out) == (0, "ACTIVE\n")
    rc, out, _ = run(capsys, *common, "--output", "text")
    first = out.splitlines()[0].split("\t")  # the scalar members, sorted by name, after the identifier
    assert first[0] == "SOLUTIONVERSION" and "ACTIVE" in first and version["arn"] in first
    rc, out, _ = run(capsys, *common, "--output", "table")
    assert rc == 0 and out.startswith("+") and "DescribeSolutionVersion" in out and "| status" in out
    rc, out, _ = run(capsys, "list-recipes", "--query", "recipes[].recipeArn", "--output", "json")
    assert json.loads(out) == [RECIPE]
    rc, _, err = run(capsys, "list-recipes", "--query", "recipes[")
    assert rc == 252 and "Bad value for --query" in err


def test_skeletons_and_input_documents_for_every_command(capsys, version, tmp_path):
    for command in cli.commands():
        skeleton = ok(capsys, command.name, "--generate-cli-skeleton")
        assert set(skeleton) == {o.member for o in cli.arguments.skeleton_options(command)}, command.name
        if command.run is None:  # an operation: exactly its botocore input members, nothing of this project's
            from tuning.contract import input_shape, shapes as service_shapes_of

            members = service_shapes_of(command.service)[input_shape(command.service, command.operation)]["members"]
            assert set(skeleton) == set(members), command.name
        if command.output_shape:
            output = ok(capsys, command.name, "--generate-cli-skeleton", "output")
            from botocore.loaders import Loader

            shapes = Loader().load_service_model(command.service, "service-2")["shapes"]
            assert set(output) == set(shapes[command.output_shape]["members"]), command.name
    by_options = ok(capsys, "get-recommendations", "--workspace", version["ws"], "--solution-version-arn",
                    version["arn"], "--user-id", "1", "--num-results", 3)
    document = tmp_path / "input.json"
    document.write_text(json.dumps({"campaignArn": version["arn"], "userId": "1", "numResults": 3}))
    by_json = ok(capsys, "get-recommendations", "--workspace", version["ws"], "--cli-input-json", f"file://{document}")
    by_yaml = ok(capsys, "get-recommendations", "--workspace", version["ws"], "--cli-input-yaml",
                 f"campaignArn: {version['arn']}\nuserId: '1'\nnumResults: 3\n")
    assert by_options["itemList"] == by_json["itemList"] == by_yaml["itemList"]
    rc, _, err = run(capsys, "describe-solution", "--cli-input-json", '{"solutionArn": "x", "bogus": 1}')
    assert rc == 252 and 'Unknown parameter in input: "bogus"' in err
    rc, _, err = run(capsys, "get-recommendations", "--cli-input-json", '{"campaignArn": "x", "userId": "1", '
                     '"numResults": "3"}')
    assert rc == 252 and "Invalid type for parameter numResults" in err
    rc, _, err = run(capsys, "describe-solution", "--cli-input-yaml", "a: &x [1]\nb: *x\n")
    assert rc == 252 and "aliases" in err


def test_create_solution_from_options_alone(capsys, tmp_path):
    config = json.dumps(REQUEST["solutionConfig"])
    created = ok(capsys, "create-solution", "--name", "from-options", "--recipe-arn", RECIPE, "--no-perform-hpo",
                 "--solution-config", config, "--workspace", tmp_path / "ws")
    assert created == {"solutionArn": SOLUTION.replace("cli-faults", "from-options")}
    described = ok(capsys, "describe-solution", "--solution-arn", created["solutionArn"], "--workspace", tmp_path / "ws")
    assert described["solution"]["solutionConfig"] == REQUEST["solutionConfig"]
    rc, _, err = run(capsys, "create-solution", "--name", "x", "--solution-config", "{oops", "--workspace", tmp_path)
    assert rc == 252 and "not valid JSON" in err


def test_version_and_help_for_every_option(capsys):
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and re.match(r"^hrnn/\S+ Python/\S+ \w+/\S+ botocore/\S+$", out.strip()), out
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {action.option_strings or action.dest}" for name, sub in subparsers.choices.items()
               for action in sub._actions if not action.help]
    assert not missing, missing
    assert all(action.help for action in parser._actions)


def test_errors_are_printed_as_the_aws_cli_prints_them_with_its_exit_codes(capsys, version):
    rc, out, err = run(capsys, "--workspace", version["ws"], "describe-solution", "--solution-arn", SOLUTION + "x")
    assert rc == 254 and out == ""
    match = ERROR_LINE.match(err.strip().splitlines()[-1])
    assert match and match.groups()[:2] == ("ResourceNotFoundException", "DescribeSolution"), err
    rc, _, err = run(capsys, "create-solution", "--cli-input-json", '{"name": "x"}', "--workspace", version["ws"])
    assert rc == 254 and "when calling the CreateSolution operation: recipeArn is required" in err
    rc, _, err = run(capsys, "describe-solution")
    assert rc == 252 and "the following arguments are required: --solution-arn" in err
    rc, _, err = run(capsys, "no-such-command")
    assert rc == 252 and "invalid choice" in err
    rc, _, err = run(capsys, "get-recommendations", "--solution-version-arn", "x", "--user-id", "1", "--num-results",
                     "many")
    assert rc == 252 and "expected an integer" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("flag, value, words", [("--cpus-per-trial", "0", "--cpus-per-trial 0 is invalid"),
                                                 ("--device", "", "--device '' is invalid")])
def test_run_options_reach_their_check_as_given(capsys, version, flag, value, words):
    """A value the command line was given is checked as it is, never replaced by the default."""
    rc, out, err = run(capsys, "--workspace", version["ws"], "create-solution-version", "--solution-arn", SOLUTION,
                       flag, value)
    assert rc == 254 and out == "" and words in err, err


def test_a_failed_version_still_prints_its_arn(capsys, version, tmp_path):
    few = tmp_path / "few.csv"
    few.write_text("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\nu1,i2,1700000060\n")
    rc, out, err = run(capsys, "--workspace", version["ws"], "create-solution-version", "--solution-arn", SOLUTION,
                       "--interactions", few, "--quiet")
    assert rc == 254 and "Too little data" in err
    arn = json.loads(out)["solutionVersionArn"]
    described = ok(capsys, "--workspace", version["ws"], "describe-solution-version", "--solution-version-arn", arn)
    assert described["solutionVersion"]["status"] == "CREATE FAILED"


def test_list_solution_versions_and_the_latest_in_describe_solution(capsys, version):
    listed = ok(capsys, "--workspace", version["ws"], "list-solution-versions", "--solution-arn", SOLUTION)
    arns = [v["solutionVersionArn"] for v in listed["solutionVersions"]]
    assert version["arn"] in arns
    times = [v["creationDateTime"] for v in listed["solutionVersions"]]
    assert times == sorted(times, reverse=True)  # newest first
    latest = ok(capsys, "--workspace", version["ws"], "describe-solution", "--solution-arn",
                SOLUTION)["solution"]["latestSolutionVersion"]
    assert latest == listed["solutionVersions"][0]
    page = ok(capsys, "--workspace", version["ws"], "list-solution-versions", "--max-results", 1)
    assert len(page["solutionVersions"]) == 1
    if len(arns) > 1:
        rest = ok(capsys, "--workspace", version["ws"], "list-solution-versions", "--max-results", 1,
                  "--next-token", page["nextToken"])
        assert rest["solutionVersions"][0]["solutionVersionArn"] == arns[1]


def test_every_json_output_is_the_service_output_shape(capsys, version, tmp_path):
    ws, arn = version["ws"], version["arn"]
    job = tmp_path / "users.jsonl"
    job.write_text('{"userId": "1"}\n')
    runtime = _shapes("personalize-runtime")
    request = tmp_path / "request.json"
    request.write_text(json.dumps({**REQUEST, "name": "cli-faults-2"}))
    calls = {
        "ListRecipesResponse": ["list-recipes"],
        "DescribeRecipeResponse": ["describe-recipe", "--recipe-arn", RECIPE],
        "DescribeAlgorithmResponse": ["describe-algorithm", "--algorithm-arn", "arn:aws:personalize:::algorithm/aws-hrnn"],
        "CreateSolutionResponse": ["create-solution", request, "--workspace", ws],
        "DescribeSolutionResponse": ["describe-solution", "--solution-arn", SOLUTION, "--workspace", ws],
        "ListSolutionVersionsResponse": ["list-solution-versions", "--workspace", ws],
        "DescribeSolutionVersionResponse": ["describe-solution-version", "--solution-version-arn", arn, "--workspace", ws],
        "GetSolutionMetricsResponse": ["get-solution-metrics", "--solution-version-arn", arn, "--workspace", ws],
        "CreateBatchInferenceJobResponse": ["create-batch-inference-job", "--solution-version-arn", arn, "--job-input",
                                            job, "--job-output", tmp_path / "out.jsonl", "--workspace", ws, "--quiet"],
    }
    for shape, argv in calls.items():
        validate(service_shapes(), shape, ok(capsys, *argv))
    validate(runtime, "GetRecommendationsResponse",
             ok(capsys, "get-recommendations", "--solution-version-arn", arn, "--user-id", "1", "--workspace", ws))
    from tuning.workspace import SOLUTION_VERSION_MEMBERS

    assert set(SOLUTION_VERSION_MEMBERS) == set(service_shapes()["SolutionVersion"]["members"])


def _shapes(service: str) -> dict:
    from botocore.loaders import Loader

    return Loader().load_service_model(service, "service-2")["shapes"]


def test_the_algorithm_ranges_fit_the_service_model(capsys):
    algorithm = ok(capsys, "describe-algorithm", "--algorithm-arn", "arn:aws:personalize:::algorithm/aws-hrnn")
    ranges = algorithm["algorithm"]["defaultHyperParameterRanges"]
    names = {r["name"] for kind in ranges.values() for r in kind}
    assert {"hidden_dimension", "bptt", "recency_mask"} <= names
    assert "seed" not in names  # its range (to 2**31-1) is beyond what IntegerMaxValue can say
    for entry in ranges["integerHyperParameterRanges"]:
        validate(service_shapes(), "DefaultIntegerHyperParameterRange", entry)


def test_example_requests_replay_against_the_real_service_shape():
    from tuning.request import parse_create_solution

    for path in sorted((ROOT / "data" / "requests").glob("*.json")):
        request = json.loads(path.read_text())
        validate(service_shapes(), "CreateSolutionRequest", request)  # botocore's own shape: name, datasetGroupArn
        parse_create_solution(request)


def test_uris_are_refused_clearly_for_every_file_option(capsys, version, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    job = tmp_path / "users.jsonl"
    job.write_text('{"userId": "1"}\n')
    for argv in (["create-solution-version", "--solution-arn", SOLUTION, "--interactions", "s3://b/i.csv"],
                 ["summarize", "--interactions", "s3://b/i.csv"]):
        rc, _, err = run(capsys, "--workspace", version["ws"], *argv)
        assert rc == 254 and "only local files" in err, err
    rc, _, err = run(capsys, "--workspace", "s3://bucket/ws", "list-solution-versions")
    assert rc == 254 and "is a URI" in err
    assert not (tmp_path / "s3:").exists()


def test_generate_data_as_the_readme_documents_it(capsys, tmp_path):
    readme = (ROOT / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("hrnn generate-data"))
    argv = line.split("#")[0].split()[1:]
    argv[argv.index("--out") + 1] = str(tmp_path / "my_sample.csv")
    rc, out, err = run(capsys, *argv)
    assert rc == 0, err
    assert "wrote" in out and (tmp_path / "my_sample.csv").stat().st_size > 0


def test_training_progress_has_a_rate_and_an_eta(capsys, version, tmp_path):
    rc, _, err = run(capsys, "--workspace", tmp_path / "ws", "run", "--request",
                     ROOT / "data" / "requests" / "no_hpo_request.json", "--interactions", version["interactions"],
                     "--max-epochs", 2, "--device", "cpu")
    assert rc == 0, err
    epochs = [ln for ln in err.splitlines() if ln.startswith("epoch ")]
    assert len(epochs) == 2 and all(re.search(r"[\d,]+ events/s .* ETA \d+:\d\d:\d\d", ln) for ln in epochs), err

"""CreateSolutionVersion's lifecycle: statuses, files, and resuming a version whose process died."""

import pytest

from hrnn.data import load_interactions
from hrnn.errors import InvalidInputException
from hrnn.training import fit
from hrnn.data.splits import service_split
from hrnn.synth import generate_interactions, write_interactions
from tuning import arns
from tuning.request import parse_create_solution
from tuning.version_training import data_config

from local_ops import Local

REQUEST = {
    "name": "lifecycle",
    "recipeArn": "arn:aws:personalize:::recipe/aws-hrnn",
    "performHPO": False,
    "solutionConfig": {"algorithmHyperParameters": {
        "hidden_dimension": "32", "bptt": "4", "epochs": "3", "batch_size": "16", "num_negatives": "32"}},
}


@pytest.fixture()
def setup(tmp_path):
    data = tmp_path / "interactions.csv"
    write_interactions(generate_interactions(n_users=300, n_items=150, seed=4), data)
    ops = Local(tmp_path / "ws")
    arn = ops("CreateSolution", **REQUEST)["solutionArn"]
    return ops, arn, data


def _train(ops, arn, data, **options):
    from tuning.run_options import RunOptions

    return ops("CreateSolutionVersion", local={"interactions": str(data)},
               options=RunOptions(device="cpu", quiet=True, **options), solutionArn=arn)["solutionVersionArn"]


def test_a_version_whose_process_died_resumes_from_its_checkpoint(setup):
    ops, arn, data = setup
    workspace = ops.workspace
    request = parse_create_solution(REQUEST)
    # A run that got through one of its three epochs, then its process died while CREATE IN_PROGRESS.
    version_id = "0badc0de"
    version = workspace.version("lifecycle", version_id)

    prepared = load_interactions(data, data_config(request))
    split = service_split(prepared, request.hyperparameters.seed)
    fit(prepared.take(split.train), request.hyperparameters, device="cpu", max_epochs=1,
        checkpoint_dir=version.checkpoint)
    # Its record: the same command (file and options); the solution's lock is free (its holder died).
    record, _ = workspace.store.create(arns.SOLUTION_VERSION, f"lifecycle/{version_id}", {
        "name": f"lifecycle-{version_id}", "solutionVersionArn": f"{arn}/{version_id}", "solutionArn": arn,
        "status": "CREATE IN_PROGRESS"}, job={"interactions": str(data.resolve()), "maxEpochs": None, "storage": None,
                                            "earlyStopping": True, "refit": False, "origin": "cli", "pid": 1})
    created = record.public["creationDateTime"]

    resumed = _train(ops, arn, data)
    assert resumed == f"{arn}/{version_id}"  # the same version, not a new one
    described = version.read_describe()
    assert described["status"] == "ACTIVE" and described["creationDateTime"] == created
    history = version.read_trials()[0]["history"]
    assert [e["epoch"] for e in history] == [1, 2, 3]  # epoch 1 came from the checkpoint
    assert set(version.read_metrics()["metrics"]) >= {"precision_at_25", "coverage"}
    assert version.report.is_file() and not version.checkpoint.exists()


def test_a_finished_version_is_not_reused_and_a_failure_is_described(setup, tmp_path):
    ops, arn, data = setup
    workspace = ops.workspace
    first = _train(ops, arn, data, max_epochs=1)
    second = _train(ops, arn, data, max_epochs=1)
    assert first != second
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InvalidInputException, match="empty"):
        _train(ops, arn, empty)
    failed = workspace.versions("lifecycle")[-1]
    described = failed.read_describe()
    assert described["status"] == "CREATE FAILED" and "empty" in described["failureReason"]
    # The earlier, finished versions are untouched.
    for arn_ in (first, second):
        assert ops("DescribeSolutionVersion", solutionVersionArn=arn_)["solutionVersion"]["status"] == "ACTIVE"

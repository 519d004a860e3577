"""CreateSolutionVersion's lifecycle: statuses, files, and resuming a version whose process died."""

import pytest

from hrnn.data import load_interactions
from hrnn.errors import InvalidInputException
from hrnn.training import fit
from hrnn.data.splits import service_split
from hrnn.synth import generate_interactions, write_interactions
from tuning.request import parse_create_solution
from tuning.solution_version import RunOptions, _describe_base, create_solution_version
from tuning.version_training import data_config
from tuning.workspace import Workspace, version_arn

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
    workspace = Workspace.at(tmp_path / "ws")
    arn = workspace.create_solution(REQUEST, parse_create_solution(REQUEST))
    return workspace, arn, data


def test_a_version_whose_process_died_resumes_from_its_checkpoint(setup):
    workspace, arn, data = setup
    request = parse_create_solution(REQUEST)
    # A run that got through one of its three epochs, then its process died while CREATE IN_PROGRESS.
    version_id = "0badc0de"
    version = workspace.version("lifecycle", version_id)

    prepared = load_interactions(data, data_config(request))
    split = service_split(prepared, request.hyperparameters.seed)
    fit(prepared.take(split.train), request.hyperparameters, device="cpu", max_epochs=1,
        checkpoint_dir=version.checkpoint)
    describe = {**_describe_base(request, "lifecycle", version_arn("lifecycle", version_id)),
                "status": "CREATE IN_PROGRESS", "creationDateTime": 1.0, "lastUpdatedDateTime": 1.0}
    version.write_describe(describe)
    # Its job record: the same command (file and options); the solution's lock is free (its holder died).
    version.write_job({"interactions": str(data.resolve()), "maxEpochs": None, "storage": None, "earlyStopping": True,
                       "refit": False, "pid": 1})

    resumed = create_solution_version(workspace, arn, data, RunOptions(device="cpu", quiet=True))
    assert resumed == version_arn("lifecycle", version_id)  # the same version, not a new one
    described = version.read_describe()
    assert described["status"] == "ACTIVE" and described["creationDateTime"] == 1.0
    history = version.read_trials()[0]["history"]
    assert [e["epoch"] for e in history] == [1, 2, 3]  # epoch 1 came from the checkpoint
    assert set(version.read_metrics()["metrics"]) >= {"precision_at_25", "coverage"}
    assert version.report.is_file() and not version.checkpoint.exists()


def test_a_finished_version_is_not_reused_and_a_failure_is_described(setup, tmp_path):
    workspace, arn, data = setup
    first = create_solution_version(workspace, arn, data, RunOptions(device="cpu", quiet=True, max_epochs=1))
    second = create_solution_version(workspace, arn, data, RunOptions(device="cpu", quiet=True, max_epochs=1))
    assert first != second
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InvalidInputException, match="empty"):
        create_solution_version(workspace, arn, empty, RunOptions(device="cpu", quiet=True))
    failed = workspace.versions("lifecycle")[-1]
    described = failed.read_describe()
    assert described["status"] == "CREATE FAILED" and "empty" in described["failureReason"]
    # The earlier, finished versions are untouched.
    for arn_ in (first, second):
        assert workspace.describe_version(arn_)["solutionVersion"]["status"] == "ACTIVE"

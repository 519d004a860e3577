"""A server stopped mid-training loses nothing: a later server adopts a training that still runs, resumes one
whose process died too (from its checkpoint, as the same version), and serves the campaigns it had."""

from __future__ import annotations

import os
import signal
import time

import pytest

from hrnn.synth import generate_interactions, write_interactions
from tuning import arns
from tuning.locks import holder_pid
from tuning.workspace import Workspace

from server_helpers import INTERACTIONS_SCHEMA, RECIPE_ARN, ROLE_ARN, Server, client, wait_for

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


TINY = {"hidden_dimension": "32", "bptt": "4", "batch_size": "16", "num_negatives": "64"}


def _in_progress(workspace, arn: str, timeout: float = 120) -> int:
    """The pid training the version, once it trains (its describe.json says IN_PROGRESS)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        store = Workspace.at(workspace).store
        record = store.find(arns.SOLUTION_VERSION, arn)
        described = record.public
        pid = holder_pid(store.lock_file(arns.SOLUTION, record.name.split("/")[0]))
        if described["status"] == "CREATE IN_PROGRESS" and pid is not None and pid == record.private["job"].get("pid"):
            return pid
        assert described["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS"), described
        time.sleep(0.1)
    raise AssertionError("the version never started training")


def test_a_killed_server_adopts_or_resumes_its_training_and_keeps_what_was_active(tmp_path):
    write_interactions(generate_interactions(n_users=300, n_items=150, seed=3), tmp_path / "interactions.csv")
    workspace = tmp_path / "ws"
    first = Server(workspace, "--device", "cpu")
    api = client(first.endpoint)
    schema = api.create_schema(name="events", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    group = api.create_dataset_group(name="shop")["datasetGroupArn"]
    dataset = api.create_dataset(name="events", schemaArn=schema, datasetGroupArn=group,
                                 datasetType="Interactions")["datasetArn"]
    job = api.create_dataset_import_job(jobName="once", datasetArn=dataset, roleArn=ROLE_ARN,
                                        dataSource={"dataLocation": str(tmp_path / "interactions.csv")})
    wait_for(lambda: api.describe_dataset_import_job(datasetImportJobArn=job["datasetImportJobArn"]),
             "datasetImportJob")
    quick, slow = (api.create_solution(name=name, recipeArn=RECIPE_ARN, datasetGroupArn=group, solutionConfig={
        "algorithmHyperParameters": {**TINY, "epochs": epochs}})["solutionArn"] for name, epochs in
        (("quick", "1"), ("slow", "40")))
    active = api.create_solution_version(solutionArn=quick)["solutionVersionArn"]
    assert wait_for(lambda: api.describe_solution_version(solutionVersionArn=active), "solutionVersion")[
        "status"] == "ACTIVE"
    campaign = api.create_campaign(name="shop", solutionVersionArn=active)["campaignArn"]
    wait_for(lambda: api.describe_campaign(campaignArn=campaign), "campaign")
    before = client(first.endpoint, "personalize-runtime").get_recommendations(campaignArn=campaign, userId="1")
    training = api.create_solution_version(solutionArn=slow)["solutionVersionArn"]
    pid = _in_progress(workspace, training)

    first.stop(signal.SIGKILL)  # the server dies; its training goes on and the next server adopts it
    second = Server(workspace, "--device", "cpu")
    assert client(second.endpoint).describe_solution_version(solutionVersionArn=training)["solutionVersion"][
        "status"] == "CREATE IN_PROGRESS"
    assert alive(pid)
    time.sleep(2)  # a checkpoint or two
    second.stop(signal.SIGKILL)
    os.killpg(pid, signal.SIGKILL)  # now the training dies too, as in a crash of the machine
    while alive(pid):
        time.sleep(0.05)

    third = Server(workspace, "--device", "cpu")
    try:
        api = client(third.endpoint)
        done = wait_for(lambda: api.describe_solution_version(solutionVersionArn=training), "solutionVersion")
        assert done["status"] == "ACTIVE", done
        assert [v["solutionVersionArn"] for v in api.list_solution_versions(solutionArn=slow)["solutionVersions"]] == [
            training]  # the same version, resumed: no new one
        log = (workspace / "logs" / "solution-version" / "slow" / f"{training[-8:]}.log").read_text()
        assert "resuming after epoch" in log  # from the checkpoint, not from scratch
        assert api.describe_solution_version(solutionVersionArn=active)["solutionVersion"]["status"] == "ACTIVE"
        assert api.describe_campaign(campaignArn=campaign)["campaign"]["status"] == "ACTIVE"
        after = client(third.endpoint, "personalize-runtime").get_recommendations(campaignArn=campaign, userId="1")
        assert after["itemList"] == before["itemList"]
    finally:
        third.stop()

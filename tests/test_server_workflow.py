"""The whole workflow a boto3 user runs, against ``hrnn serve`` on a free loopback port with a local S3 (moto):
schema -> dataset group -> dataset -> import (from S3) -> solution with a tiny HPO -> version polled to
ACTIVE -> metrics -> campaign -> GetRecommendations -> batch job (S3 in, S3 out). Then: two versions trained
at once while the server keeps answering, stopping a version, deleting, and a server killed mid-training.

One module-scoped server trains the HPO version once (2 trials of one epoch on 8K interactions); every
answer is checked against botocore's output shapes (tests/server_helpers.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pyarrow as pa
import pytest

from hrnn.artifact import LoadedModel
from hrnn.evaluation.metrics import SERVICE_METRIC_NAMES
from hrnn.synth import generate_interactions, write_interactions
from tuning.contract import operation_model, shapes
from tuning.shapes import validate
from tuning.workspace import Workspace

from server_helpers import (INTERACTIONS_SCHEMA, KEY_ID, RECIPE_ARN, REGION, ROLE_ARN, SECRET, Server, client, moto_s3,
                            s3_env, wait_for)

pytestmark = pytest.mark.slow

ALGORITHM_ARN = "arn:aws:personalize:::algorithm/aws-hrnn"
BUCKET = "hrnn-data"
TINY = {"hidden_dimension": "32", "bptt": "4", "epochs": "1", "batch_size": "16", "num_negatives": "64"}
HPO_CONFIG = {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "2", "maxParallelTrainingJobs": "2"},
              "algorithmHyperParameterRanges": {"integerHyperParameterRanges": [
                  {"name": "bptt", "minValue": 2, "maxValue": 8}]}}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("workflow")
    table = generate_interactions(n_users=300, n_items=150, seed=3)
    write_interactions(table, root / "interactions.csv")
    return root


@pytest.fixture(scope="module")
def s3(root):
    with moto_s3(root) as (endpoint, s3):
        s3.create_bucket(Bucket=BUCKET)
        s3.upload_file(str(root / "interactions.csv"), BUCKET, "input/interactions.csv")
        yield endpoint, s3


@pytest.fixture(scope="module")
def server(root, s3):
    running = Server(root / "ws", "--max-epochs", "1", "--device", "cpu", "--max-campaigns", "2", env=s3_env(s3[0]))
    yield running
    running.stop()


def _dataset_group(api, name: str, location: str) -> str:
    schema = api.create_schema(name=f"{name}-schema", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    group = api.create_dataset_group(name=name)["datasetGroupArn"]
    dataset = api.create_dataset(name=f"{name}-events", schemaArn=schema, datasetGroupArn=group,
                                 datasetType="Interactions")["datasetArn"]
    job = api.create_dataset_import_job(jobName=f"{name}-import", datasetArn=dataset, roleArn=ROLE_ARN,
                                        dataSource={"dataLocation": location})["datasetImportJobArn"]
    imported = wait_for(lambda: api.describe_dataset_import_job(datasetImportJobArn=job), "datasetImportJob")
    assert imported["status"] == "ACTIVE", imported
    return group


def _solution(api, name: str, group: str, hpo: bool = False, **hyperparameters) -> str:
    fixed = {k: v for k, v in {**TINY, **hyperparameters}.items() if not (hpo and k == "bptt")}  # bptt is tuned
    config = {"algorithmHyperParameters": fixed, **({"hpoConfig": HPO_CONFIG} if hpo else {})}
    return api.create_solution(name=name, recipeArn=RECIPE_ARN, datasetGroupArn=group, performHPO=hpo,
                               solutionConfig=config)["solutionArn"]


@pytest.fixture(scope="module")
def trained(server):
    """The boto3 workflow up to an ACTIVE campaign; the statuses seen on the way."""
    api, runtime = client(server.endpoint), client(server.endpoint, "personalize-runtime")
    group = _dataset_group(api, "shop", f"s3://{BUCKET}/input/interactions.csv")
    solution = _solution(api, "shop-hpo", group, hpo=True)
    version = api.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    statuses: list[str] = []
    described = wait_for(lambda: api.describe_solution_version(solutionVersionArn=version), "solutionVersion",
                         seen=statuses)
    assert described["status"] == "ACTIVE", described
    campaign = api.create_campaign(name="shop-campaign", solutionVersionArn=version, minProvisionedTPS=1)["campaignArn"]
    assert wait_for(lambda: api.describe_campaign(campaignArn=campaign), "campaign")["status"] == "ACTIVE"
    return {"api": api, "runtime": runtime, "group": group, "solution": solution, "version": version,
            "campaign": campaign, "statuses": statuses, "described": described}


def test_the_boto3_workflow_trains_a_tuned_version(trained):
    api, version = trained["api"], trained["version"]
    assert trained["statuses"][0] in ("CREATE PENDING", "CREATE IN_PROGRESS")
    assert trained["statuses"][-1] == "ACTIVE" and "CREATE IN_PROGRESS" in trained["statuses"]
    described = trained["described"]
    assert described["performHPO"] is True and described["datasetGroupArn"] == trained["group"]
    tuned = described["tunedHPOParams"]["algorithmHyperParameters"]
    assert tuned["hidden_dimension"] == "32" and 2 <= int(tuned["bptt"]) <= 8
    metrics = api.get_solution_metrics(solutionVersionArn=version)
    assert metrics["solutionVersionArn"] == version and set(metrics["metrics"]) == set(SERVICE_METRIC_NAMES)
    latest = api.describe_solution(solutionArn=trained["solution"])["solution"]["latestSolutionVersion"]
    assert (latest["solutionVersionArn"], latest["status"]) == (version, "ACTIVE")
    assert [v["solutionVersionArn"] for v in api.list_solution_versions(
        solutionArn=trained["solution"])["solutionVersions"]] == [version]
    assert trained["solution"] in [s["solutionArn"] for s in api.list_solutions(
        datasetGroupArn=trained["group"])["solutions"]]
    assert [c["campaignArn"] for c in api.list_campaigns(solutionArn=trained["solution"])["campaigns"]] == [
        trained["campaign"]]
    assert api.describe_recipe(recipeArn=RECIPE_ARN)["recipe"]["recipeType"] == "USER_PERSONALIZATION"
    algorithm = api.describe_algorithm(algorithmArn=ALGORITHM_ARN)["algorithm"]
    assert algorithm["algorithmArn"] == ALGORITHM_ARN and algorithm["defaultHyperParameters"]["hidden_dimension"] == "43"
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_algorithm(algorithmArn=ALGORITHM_ARN + "-v9")


def test_recommendations_are_the_trained_models(server, trained):
    model = LoadedModel.load(Workspace.at(server.workspace).resolve_version(trained["version"]).model)
    users = model.user_ids.to_pylist()
    for user in (users[0], users[len(users) // 2], "someone-new"):
        answer = trained["runtime"].get_recommendations(campaignArn=trained["campaign"], userId=user, numResults=7)
        expected = model.recommend([user], 7)[0]["itemList"]
        assert [i["itemId"] for i in answer["itemList"]] == [i["itemId"] for i in expected]
        assert [i["score"] for i in answer["itemList"]] == pytest.approx([i["score"] for i in expected])
        assert answer["recommendationId"]
    default = trained["runtime"].get_recommendations(campaignArn=trained["campaign"], userId=users[0])
    assert len(default["itemList"]) == 25
    scores = [i["score"] for i in default["itemList"]]
    assert scores == sorted(scores, reverse=True)


def test_a_batch_job_reads_and_writes_s3(trained, s3):
    api, bucket = trained["api"], s3[1]
    users = ["1", "2", "someone-new"]
    lines = "".join(json.dumps({"userId": u}) + "\n" for u in users) + "not json\n"
    bucket.put_object(Bucket=BUCKET, Key="batch/users.jsonl", Body=lines.encode())
    job = api.create_batch_inference_job(
        jobName="shop-batch", solutionVersionArn=trained["version"], roleArn=ROLE_ARN, numResults=5,
        jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/batch/users.jsonl"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/batch-out/"}})["batchInferenceJobArn"]
    done = wait_for(lambda: api.describe_batch_inference_job(batchInferenceJobArn=job), "batchInferenceJob")
    assert done["status"] == "ACTIVE", done
    out = bucket.get_object(Bucket=BUCKET, Key="batch-out/users.jsonl.out")["Body"].read().decode().splitlines()
    rows = [json.loads(line) for line in out]
    assert [r["input"] for r in rows[:3]] == [{"userId": u} for u in users] and rows[3]["error"]
    for user, row in zip(users, rows):
        online = trained["runtime"].get_recommendations(campaignArn=trained["campaign"], userId=user, numResults=5)
        assert row["output"]["recommendedItems"] == [i["itemId"] for i in online["itemList"]]
    assert job in [j["batchInferenceJobArn"] for j in api.list_batch_inference_jobs(
        solutionVersionArn=trained["version"])["batchInferenceJobs"]]


def test_two_versions_train_at_once_while_the_server_answers(server, trained):
    api, runtime = trained["api"], trained["runtime"]
    solutions = [_solution(api, f"shop-{n}", trained["group"]) for n in ("a", "b")]
    arns: dict[str, str] = {}

    def create(solution: str) -> None:
        arns[solution] = client(server.endpoint).create_solution_version(solutionArn=solution)["solutionVersionArn"]

    threads = [threading.Thread(target=create, args=(s,)) for s in solutions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answered_while_training = 0
    while True:
        statuses = [api.describe_solution_version(solutionVersionArn=arns[s])["solutionVersion"]["status"]
                    for s in solutions]
        if all(s in ("ACTIVE", "CREATE FAILED") for s in statuses):
            break
        started = time.perf_counter()
        runtime.get_recommendations(campaignArn=trained["campaign"], userId="1", numResults=3)
        assert time.perf_counter() - started < 5
        answered_while_training += 1
        time.sleep(0.1)
    assert statuses == ["ACTIVE", "ACTIVE"] and answered_while_training > 0

    # Deleting: a solution whose version a campaign serves is in use; without the campaign it goes.
    campaign = api.create_campaign(name="shop-a", solutionVersionArn=arns[solutions[0]])["campaignArn"]
    with pytest.raises(api.exceptions.LimitExceededException, match="--max-campaigns"):  # 2 held already
        api.create_campaign(name="shop-b", solutionVersionArn=arns[solutions[1]])
    with pytest.raises(api.exceptions.ResourceInUseException, match="shop-a"):
        api.delete_solution(solutionArn=solutions[0])
    api.delete_campaign(campaignArn=campaign)
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_campaign(campaignArn=campaign)
    api.delete_solution(solutionArn=solutions[0])
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_solution(solutionArn=solutions[0])
    assert solutions[0] not in [s["solutionArn"] for s in api.list_solutions()["solutions"]]


def test_stopping_a_version_and_one_version_at_a_time(trained):
    api = trained["api"]
    solution = _solution(api, "shop-stop", trained["group"])
    version = api.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    with pytest.raises(api.exceptions.ResourceInUseException, match="already has a version"):
        api.create_solution_version(solutionArn=solution)
    api.stop_solution_version_creation(solutionVersionArn=version)
    stopped = wait_for(lambda: api.describe_solution_version(solutionVersionArn=version), "solutionVersion")
    assert stopped["status"] == "CREATE STOPPED", stopped
    with pytest.raises(api.exceptions.ResourceInUseException, match="CREATE STOPPED"):
        api.stop_solution_version_creation(solutionVersionArn=version)
    with pytest.raises(api.exceptions.ResourceInUseException, match="ACTIVE"):
        api.stop_solution_version_creation(solutionVersionArn=trained["version"])
    with pytest.raises(api.exceptions.ResourceInUseException):  # metrics need ACTIVE
        api.get_solution_metrics(solutionVersionArn=version)


# ---- the same with the AWS CLI ------------------------------------------------------------------------------

def _aws(server, *args: str) -> dict:
    """``aws <service> <command> ... --endpoint-url``; the output checked against the operation's output shape."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": REGION,
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_PAGER": "",
                "AWS_MAX_ATTEMPTS": "1"})
    proc = subprocess.run([sys.executable, "-m", "awscli", *args, "--endpoint-url", server.endpoint, "--output", "json"],
                          capture_output=True, text=True, env=env, timeout=120, cwd=server.workspace.parent)
    assert proc.returncode == 0, f"aws {' '.join(args)}: {proc.stderr}"
    output = json.loads(proc.stdout or "{}")
    service, command = args[0], args[1]
    operation = "".join(part.title() for part in command.split("-"))
    output_shape = operation_model(service, operation).get("output")
    if output_shape:
        validate(shapes(service), output_shape["shape"], output)
    return output


def _aws_wait(server, service_args: tuple, member: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        resource = _aws(server, *service_args)[member]
        if resource["status"] in ("ACTIVE", "CREATE FAILED"):
            return resource
        assert time.monotonic() < deadline, resource
        time.sleep(0.5)


def test_the_aws_cli_workflow(server, root):
    (root / "schema.json").write_text(INTERACTIONS_SCHEMA)
    (root / "cli-users.jsonl").write_text('{"userId": "1"}\n{"userId": "2"}\n')
    schema = _aws(server, "personalize", "create-schema", "--name", "cli-schema",
                  "--schema", "file://schema.json")["schemaArn"]
    group = _aws(server, "personalize", "create-dataset-group", "--name", "cli")["datasetGroupArn"]
    dataset = _aws(server, "personalize", "create-dataset", "--name", "cli-events", "--schema-arn", schema,
                   "--dataset-group-arn", group, "--dataset-type", "Interactions")["datasetArn"]
    job = _aws(server, "personalize", "create-dataset-import-job", "--job-name", "cli-import", "--dataset-arn",
               dataset, "--data-source", f"dataLocation={root / 'interactions.csv'}",
               "--role-arn", ROLE_ARN)["datasetImportJobArn"]
    assert _aws_wait(server, ("personalize", "describe-dataset-import-job", "--dataset-import-job-arn", job),
                     "datasetImportJob")["status"] == "ACTIVE"
    solution = _aws(server, "personalize", "create-solution", "--name", "cli-solution", "--recipe-arn", RECIPE_ARN,
                    "--dataset-group-arn", group, "--solution-config",
                    json.dumps({"algorithmHyperParameters": TINY}))["solutionArn"]
    version = _aws(server, "personalize", "create-solution-version", "--solution-arn", solution)["solutionVersionArn"]
    assert _aws_wait(server, ("personalize", "describe-solution-version", "--solution-version-arn", version),
                     "solutionVersion")["status"] == "ACTIVE"
    metrics = _aws(server, "personalize", "get-solution-metrics", "--solution-version-arn", version)["metrics"]
    assert set(metrics) == set(SERVICE_METRIC_NAMES)
    campaign = _aws(server, "personalize", "create-campaign", "--name", "cli-campaign", "--solution-version-arn",
                    version)["campaignArn"]
    assert _aws_wait(server, ("personalize", "describe-campaign", "--campaign-arn", campaign),
                     "campaign")["status"] == "ACTIVE"
    recommended = _aws(server, "personalize-runtime", "get-recommendations", "--campaign-arn", campaign,
                       "--user-id", "1", "--num-results", "4")["itemList"]
    assert len(recommended) == 4
    batch = _aws(server, "personalize", "create-batch-inference-job", "--job-name", "cli-batch",
                 "--solution-version-arn", version, "--role-arn", ROLE_ARN, "--num-results", "4",
                 "--job-input", f"s3DataSource={{path={root / 'cli-users.jsonl'}}}",
                 "--job-output", f"s3DataDestination={{path={root / 'cli-out'}}}")["batchInferenceJobArn"]
    assert _aws_wait(server, ("personalize", "describe-batch-inference-job", "--batch-inference-job-arn", batch),
                     "batchInferenceJob")["status"] == "ACTIVE"
    rows = [json.loads(line) for line in (root / "cli-out" / "cli-users.jsonl.out").read_text().splitlines()]
    assert rows[0]["output"]["recommendedItems"] == [i["itemId"] for i in recommended]
    tracker = _aws(server, "personalize", "create-event-tracker", "--name", "cli-site", "--dataset-group-arn", group)
    _aws(server, "personalize-events", "put-events", "--tracking-id", tracker["trackingId"], "--user-id", "1",
         "--session-id", "cli-1", "--event-list", *(f"eventType=click,itemId={i['itemId']},sentAt={int(time.time())}"
                                                   for i in recommended[:3]))
    moved = _aws(server, "personalize-runtime", "get-recommendations", "--campaign-arn", campaign, "--user-id", "1",
                 "--num-results", "4")["itemList"]
    assert [i["itemId"] for i in moved] != [i["itemId"] for i in recommended]
    retrained = _aws(server, "personalize", "create-solution-version", "--solution-arn", solution)["solutionVersionArn"]
    assert _aws_wait(server, ("personalize", "describe-solution-version", "--solution-version-arn", retrained),
                     "solutionVersion")["status"] == "ACTIVE"
    _aws(server, "personalize", "update-campaign", "--campaign-arn", campaign, "--solution-version-arn", retrained)
    deadline = time.monotonic() + 120
    while _aws(server, "personalize", "describe-campaign", "--campaign-arn", campaign)["campaign"][
            "latestCampaignUpdate"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    cli_filter = _aws(server, "personalize", "create-filter", "--name", "cli-clicks", "--dataset-group-arn", group,
                      "--filter-expression", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")')["filterArn"]
    clicked = {i["itemId"] for i in recommended[:3]}
    filtered = _aws(server, "personalize-runtime", "get-recommendations", "--campaign-arn", campaign, "--user-id", "1",
                    "--num-results", "50", "--filter-arn", cli_filter)["itemList"]
    assert filtered and not clicked & {i["itemId"] for i in filtered}
    _aws(server, "personalize", "tag-resource", "--resource-arn", campaign, "--tags", "tagKey=stage,tagValue=cli")
    assert _aws(server, "personalize", "list-tags-for-resource", "--resource-arn", campaign)["tags"] == [
        {"tagKey": "stage", "tagValue": "cli"}]
    _aws(server, "personalize", "delete-campaign", "--campaign-arn", campaign)
    _aws(server, "personalize", "delete-solution", "--solution-arn", solution)
    _aws(server, "personalize", "delete-event-tracker", "--event-tracker-arn", tracker["eventTrackerArn"])
    _aws(server, "personalize", "delete-filter", "--filter-arn", cli_filter)
    _aws(server, "personalize", "delete-dataset", "--dataset-arn", dataset)
    _aws(server, "personalize", "delete-dataset-group", "--dataset-group-arn", group)
    _aws(server, "personalize", "delete-schema", "--schema-arn", schema)
    failed = subprocess.run([sys.executable, "-m", "awscli", "personalize", "describe-solution", "--solution-arn",
                             solution + "-missing", "--endpoint-url", server.endpoint], capture_output=True, text=True,
                            env={**os.environ, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
                                 "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": os.devnull}, timeout=120)
    assert failed.returncode == 255 and "ResourceNotFoundException" in failed.stderr


# ---- live sessions, and the end of a migrating user's notebook (issue 17) -----------------------------------

def test_the_live_workflow_tracker_events_update_filters_tags_and_deletes(server, trained, root):
    """tracker -> PutEvents -> GetRecommendations moves as the offline computation says -> UpdateCampaign to a
    version retrained on the tracked events -> filters -> tags -> delete everything in the service's order."""
    import pyarrow.csv as pcsv

    from live_reference import offline_recommendations

    api, runtime = trained["api"], trained["runtime"]
    events = client(server.endpoint, "personalize-events")
    tracker = api.create_event_tracker(name="shop-site", datasetGroupArn=trained["group"])
    assert wait_for(lambda: api.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"]),
                    "eventTracker")["trackingId"] == tracker["trackingId"]
    model = LoadedModel.load(Workspace.at(server.workspace).resolve_version(trained["version"]).model)
    users = model.user_ids.to_pylist()[:4]
    items = model.item_ids.to_pylist()
    now = int(time.time())
    sent = {u: [{"USER_ID": u, "ITEM_ID": items[(11 * n + k) % len(items)], "TIMESTAMP": now - 300 + 20 * k,
                 "EVENT_TYPE": "purchase" if k == 2 else "click"} for k in range(3)] for n, u in enumerate(users)}
    for user, rows in sent.items():
        events.put_events(trackingId=tracker["trackingId"], userId=user, sessionId=f"web-{user}",
                          eventList=[{"eventType": r["EVENT_TYPE"], "itemId": r["ITEM_ID"], "sentAt": r["TIMESTAMP"]}
                                     for r in rows])
    history = pcsv.read_csv(root / "interactions.csv", convert_options=pcsv.ConvertOptions(
        column_types={"USER_ID": pa.string(), "ITEM_ID": pa.string()}))
    expected = offline_recommendations(model, history, sent, users, 8)
    for user, want in zip(users, expected):
        got = runtime.get_recommendations(campaignArn=trained["campaign"], userId=user, numResults=8)["itemList"]
        assert [x["itemId"] for x in got] == [x["itemId"] for x in want["itemList"]]

    retrained = api.create_solution_version(solutionArn=trained["solution"])["solutionVersionArn"]
    assert wait_for(lambda: api.describe_solution_version(solutionVersionArn=retrained),
                    "solutionVersion")["status"] == "ACTIVE"
    record = Workspace.at(server.workspace).store.find("solution-version", retrained)
    assert record.private["job"]["eventsThrough"] >= 11  # the twelve tracked events are in its training data
    api.update_campaign(campaignArn=trained["campaign"], solutionVersionArn=retrained)
    update = wait_for(lambda: {"u": api.describe_campaign(campaignArn=trained["campaign"])["campaign"][
        "latestCampaignUpdate"]}, "u")
    assert update["status"] == "ACTIVE" and update["solutionVersionArn"] == retrained

    no_purchases = api.create_filter(name="no-purchases", datasetGroupArn=trained["group"],
                                     filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    bought = sent[users[0]][2]["ITEM_ID"]
    filtered = runtime.get_recommendations(campaignArn=trained["campaign"], userId=users[0], numResults=100,
                                           filterArn=no_purchases["filterArn"])["itemList"]
    assert filtered and bought not in [x["itemId"] for x in filtered]
    api.tag_resource(resourceArn=trained["campaign"], tags=[{"tagKey": "stage", "tagValue": "test"}])
    assert api.list_tags_for_resource(resourceArn=trained["campaign"])["tags"] == [{"tagKey": "stage",
                                                                                      "tagValue": "test"}]

    # The end of every sample notebook: delete everything, in the service's order.
    with pytest.raises(api.exceptions.ResourceInUseException):
        api.delete_dataset_group(datasetGroupArn=trained["group"])
    for campaign in api.list_campaigns()["campaigns"]:
        api.delete_campaign(campaignArn=campaign["campaignArn"])
    for solution in api.list_solutions(datasetGroupArn=trained["group"])["solutions"]:
        api.delete_solution(solutionArn=solution["solutionArn"])
    api.delete_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    api.delete_filter(filterArn=no_purchases["filterArn"])
    schemas = set()
    for dataset in api.list_datasets(datasetGroupArn=trained["group"])["datasets"]:
        schemas.add(api.describe_dataset(datasetArn=dataset["datasetArn"])["dataset"]["schemaArn"])
        api.delete_dataset(datasetArn=dataset["datasetArn"])
    api.delete_dataset_group(datasetGroupArn=trained["group"])
    for schema in schemas:
        api.delete_schema(schemaArn=schema)
    assert trained["group"] not in [g["datasetGroupArn"] for g in api.list_dataset_groups()["datasetGroups"]]
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.put_events(trackingId=tracker["trackingId"], sessionId="late",
                          eventList=[{"eventType": "click", "sentAt": time.time()}])

"""``hrnn serve`` on the wire, without training: signing faults, bad inputs, unknown operations, the data
resources (schema, dataset group, dataset, import jobs) and paging, all through a real server on a free
loopback port. Every boto3 answer is checked against botocore's output shape (tests/server_helpers.py)."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from hrnn.synth import generate_interactions, write_interactions

from server_helpers import (INTERACTIONS_SCHEMA, KEY_ID, ROLE_ARN, SERVER_ENV, Server, client, send, signed,
                            wait_for)

LIST_RECIPES = "AmazonPersonalize.ListRecipes"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocol")
    write_interactions(generate_interactions(n_users=300, n_items=150, seed=3), root / "interactions.csv")
    running = Server(root / "ws")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(server):
    return client(server.endpoint)


def _error(status_headers_body) -> tuple[int, str]:
    status, headers, body = status_headers_body
    assert headers["content-type"].startswith("application/"), headers
    assert set(body) == {"__type", "message"} and body["message"], body
    return status, body["__type"]


# ---- starting --------------------------------------------------------------------------------------------

def test_serve_listens_on_loopback_8080_unless_told_otherwise():
    from tuning.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8080)
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9000"])
    assert (args.host, args.port) == ("0.0.0.0", 9000)


def test_serve_refuses_to_start_without_credentials(tmp_path):
    env = {k: v for k, v in SERVER_ENV.items() if not k.startswith("HRNN_")}
    proc = subprocess.run([sys.executable, "-m", "tuning.cli", "serve", "--port", "0", "--workspace",
                           str(tmp_path / "ws")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "No credentials" in proc.stderr and "HRNN_ACCESS_KEY_ID" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_second_server_on_the_same_workspace_is_refused(server):
    proc = subprocess.run([sys.executable, "-m", "tuning.cli", "serve", "--port", "0", "--workspace",
                           str(server.workspace)], env=SERVER_ENV, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "already runs on workspace" in proc.stderr and "Traceback" not in proc.stderr


# ---- signatures ------------------------------------------------------------------------------------------

def test_each_signing_fault_is_refused_with_the_services_403(server):
    endpoint, body = server.endpoint, b"{}"
    now = datetime.datetime.now(datetime.timezone.utc)
    assert send(endpoint, signed(endpoint, body, target=LIST_RECIPES))[0] == 200
    unsigned = send(endpoint, body=body, headers={"X-Amz-Target": LIST_RECIPES})
    assert _error(unsigned) == (403, "IncompleteSignatureException")
    malformed = signed(endpoint, body, target=LIST_RECIPES)
    malformed.headers.replace_header("Authorization", "AWS4-HMAC-SHA256 Credential=" + KEY_ID)
    assert _error(send(endpoint, malformed)) == (403, "IncompleteSignatureException")
    stranger = signed(endpoint, body, target=LIST_RECIPES, key_id="AKIDSTRANGER")
    assert _error(send(endpoint, stranger)) == (403, "UnrecognizedClientException")
    wrong_secret = signed(endpoint, body, target=LIST_RECIPES, secret="guessed-secret-0123456789")
    assert _error(send(endpoint, wrong_secret)) == (403, "InvalidSignatureException")
    tampered = signed(endpoint, body, target=LIST_RECIPES)
    tampered.data = b'{"maxResults": 1}'
    assert _error(send(endpoint, tampered)) == (403, "InvalidSignatureException")
    for when in (now - datetime.timedelta(minutes=6), now + datetime.timedelta(minutes=6)):
        skewed = send(endpoint, signed(endpoint, body, target=LIST_RECIPES, when=when))
        assert _error(skewed) == (403, "InvalidSignatureException") and "Signature" in skewed[2]["message"]
    other_service = signed(endpoint, body, target=LIST_RECIPES, service="s3")
    assert _error(send(endpoint, other_service)) == (403, "InvalidSignatureException")
    runtime = signed(endpoint, b'{"campaignArn": "x"}', path="/recommendations", secret="guessed-secret-0123456789")
    assert _error(send(endpoint, runtime)) == (403, "InvalidSignatureException")


def test_boto3_with_a_wrong_secret_gets_a_403_error(server):
    intruder = client(server.endpoint, secret="guessed-secret-0123456789")
    with pytest.raises(ClientError) as caught:
        intruder.list_recipes()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"


# ---- operations and routes -------------------------------------------------------------------------------

def test_unknown_operations_and_routes_get_json_errors_not_pages(server, api):
    endpoint = server.endpoint
    assert _error(send(endpoint, signed(endpoint, b"{}", target="AmazonPersonalize.NoSuchThing"))) == (
        400, "UnknownOperationException")
    assert _error(send(endpoint, signed(endpoint, b"{}"))) == (400, "UnknownOperationException")  # no X-Amz-Target
    assert _error(send(endpoint, method="GET", path="/")) == (404, "UnknownOperationException")
    assert _error(send(endpoint, method="POST", path="/personalize-ranking", body=b"{}")) == (
        404, "UnknownOperationException")
    with pytest.raises(ClientError) as caught:  # in the service's model, not implemented here
        api.create_recommender(name="r", datasetGroupArn="arn:aws:personalize:us-east-1:000000000000:dataset-group/g",
                               recipeArn="arn:aws:personalize:::recipe/aws-ecomm-popular-items-by-views")
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "CreateRecommender" in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize("body, words", [
    (b'{"maxResults": ', ["not valid JSON"]),
    (b'[1, 2]', ["JSON object"]),
    (b'{"maxResults": 5, "colour": "red"}', ["unknown member", "colour", "maxResults"]),
    (b'{"maxResults": 0}', ["maxResults", "[1, 100]"]),
    (b'{"maxResults": 101}', ["maxResults", "[1, 100]"]),
    (b'{"maxResults": "5"}', ["maxResults", "integer"]),
    (b'{"recipeProvider": "ME"}', ["recipeProvider", "SERVICE"]),
])
def test_bad_inputs_are_400_with_the_modelled_exception(server, body, words):
    status, _, answer = send(server.endpoint, signed(server.endpoint, body, target=LIST_RECIPES))
    assert (status, answer["__type"]) == (400, "InvalidInputException"), answer
    for word in words:
        assert word in answer["message"], answer


def test_boto3_raises_the_modelled_exceptions(server, api):
    loose = client(server.endpoint, validate_params=False)  # sends what the client-side check would refuse
    with pytest.raises(loose.exceptions.InvalidInputException, match="maxResults"):
        loose.list_schemas(maxResults=1000)
    with pytest.raises(loose.exceptions.InvalidInputException, match="missing required member name"):
        loose.create_dataset_group()
    missing = "arn:aws:personalize:us-east-1:123456789012:schema/no-such-schema"
    with pytest.raises(api.exceptions.ResourceNotFoundException, match="no-such-schema"):
        api.describe_schema(schemaArn=missing)
    with pytest.raises(api.exceptions.InvalidInputException, match="not a schema ARN"):
        api.describe_schema(schemaArn="arn:aws:personalize:::schema/../../etc")
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_solution_version(
            solutionVersionArn="arn:aws:personalize:us-east-1:000000000000:solution/nope/0123abcd")
    with pytest.raises(api.exceptions.InvalidNextTokenException):
        api.list_schemas(nextToken="not-a-token")


def test_runtime_errors_follow_the_runtime_model(server):
    runtime = client(server.endpoint, "personalize-runtime")
    missing = "arn:aws:personalize:us-east-1:123456789012:campaign/no-such-campaign"
    with pytest.raises(runtime.exceptions.ResourceNotFoundException) as caught:
        runtime.get_recommendations(campaignArn=missing, userId="1")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(runtime.exceptions.InvalidInputException) as caught:
        runtime.get_recommendations(campaignArn="arn:aws:personalize:::campaign/a/b", userId="1")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(runtime.exceptions.InvalidInputException, match="promotions are not supported"):
        runtime.get_recommendations(campaignArn=missing, userId="1", promotions=[{"name": "p", "percentPromotedItems": 10}])
    status, _, body = send(server.endpoint, signed(server.endpoint, b'{"campaignArn": "x", "numResult": 3}',
                                                   path="/recommendations"))
    assert (status, body["__type"]) == (400, "InvalidInputException") and "numResult" in body["message"]


def test_a_10_mb_body_is_refused_before_it_is_read(server, api):
    with pytest.raises(api.exceptions.InvalidInputException, match="accepts at most") as caught:
        api.create_schema(name="huge", schema="x" * (10 * 1024 * 1024))
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert api.list_recipes()["recipes"]  # the connection pool still works


# ---- data resources ----------------------------------------------------------------------------------------

def test_schema_dataset_group_dataset_and_imports(server, api):
    root = server.workspace.parent
    schema = api.create_schema(name="interactions", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    assert api.create_schema(name="interactions", schema=INTERACTIONS_SCHEMA)["schemaArn"] == schema  # a retry
    with pytest.raises(api.exceptions.ResourceAlreadyExistsException):
        api.create_schema(name="interactions", schema=INTERACTIONS_SCHEMA.replace('"1.0"', '"2.0"'))
    assert json.loads(api.describe_schema(schemaArn=schema)["schema"]["schema"]) == json.loads(INTERACTIONS_SCHEMA)
    group = api.create_dataset_group(name="shop")["datasetGroupArn"]
    assert api.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
    items_only = api.create_schema(name="items-only", schema=json.dumps(
        {"type": "record", "name": "Items", "fields": [{"name": "ITEM_ID", "type": "string"}]}))["schemaArn"]
    with pytest.raises(api.exceptions.InvalidInputException, match="USER_ID"):
        api.create_dataset(name="bad", schemaArn=items_only, datasetGroupArn=group, datasetType="Interactions")
    dataset = api.create_dataset(name="events", schemaArn=schema, datasetGroupArn=group,
                                 datasetType="Interactions")["datasetArn"]
    assert dataset.endswith(":dataset/shop/INTERACTIONS")
    assert [d["datasetArn"] for d in api.list_datasets(datasetGroupArn=group)["datasets"]] == [dataset]

    def imported(name, location, mode="FULL"):
        arn = api.create_dataset_import_job(jobName=name, datasetArn=dataset, importMode=mode, roleArn=ROLE_ARN,
                                            dataSource={"dataLocation": location})["datasetImportJobArn"]
        return wait_for(lambda: api.describe_dataset_import_job(datasetImportJobArn=arn), "datasetImportJob",
                        timeout=120)

    assert imported("from-path", str(root / "interactions.csv"))["status"] == "ACTIVE"
    assert imported("from-uri", f"file://{root / 'interactions.csv'}", "INCREMENTAL")["status"] == "ACTIVE"
    (root / "broken.csv").write_text("USER_ID,ITEM_ID\n1,2\n")
    failed = imported("broken", str(root / "broken.csv"))
    assert failed["status"] == "CREATE FAILED" and "TIMESTAMP" in failed["failureReason"]
    with pytest.raises(api.exceptions.InvalidInputException, match="outside the directories"):
        api.create_dataset_import_job(jobName="escape", datasetArn=dataset, dataSource={"dataLocation": "/etc/passwd"})
    with pytest.raises(api.exceptions.InvalidInputException, match="outside the directories"):
        api.create_dataset_import_job(jobName="escape", datasetArn=dataset,
                                      dataSource={"dataLocation": str(root / ".." / ".." / "etc" / "passwd")})
    with pytest.raises(api.exceptions.InvalidInputException, match="inside the workspace"):
        api.create_dataset_import_job(jobName="inside", datasetArn=dataset,
                                      dataSource={"dataLocation": f"file://{server.workspace / 'resources'}"})
    data = server.workspace / "data" / "shop" / "INTERACTIONS"
    import pyarrow.parquet as pq
    assert pq.read_metadata(data / "from-uri.parquet").num_rows == 2 * pq.read_metadata(data / "from-path.parquet").num_rows

    jobs = api.list_dataset_import_jobs(datasetArn=dataset, maxResults=2)
    assert [j["jobName"] for j in jobs["datasetImportJobs"]] == ["broken", "from-uri"]  # newest first
    rest = api.list_dataset_import_jobs(datasetArn=dataset, maxResults=2, nextToken=jobs["nextToken"])
    assert [j["jobName"] for j in rest["datasetImportJobs"]] == ["from-path"] and "nextToken" not in rest
    assert {s["name"] for s in api.list_schemas()["schemas"]} >= {"interactions", "items-only"}
    assert group in [g["datasetGroupArn"] for g in api.list_dataset_groups()["datasetGroups"]]


def test_the_readmes_five_line_migration_works(server):
    from server_helpers import ROOT, SECRET

    readme = (ROOT / "README.md").read_text()
    block = readme.split("Already calling Amazon Personalize from boto3?", 1)[1].split("```python\n", 1)[1]
    snippet = block.split("```", 1)[0]
    assert len(snippet.strip().splitlines()) == 5
    snippet = (snippet.replace("http://127.0.0.1:8080", server.endpoint).replace("AKIDLOCAL", KEY_ID)
               .replace("<the same secret>", SECRET))
    namespace: dict = {}
    exec(snippet, namespace)
    assert namespace["personalize"].list_recipes()["recipes"][0]["name"] == "aws-hrnn"
    with pytest.raises(namespace["personalize_runtime"].exceptions.ResourceNotFoundException):
        namespace["personalize_runtime"].get_recommendations(
            campaignArn="arn:aws:personalize:us-east-1:123456789012:campaign/none", userId="1")

"""Issue 16: the hrnn command generated from the operation table and botocore's shapes: every operation is a
command, help as the AWS CLI gives it, its pagination, notes for members accepted and ignored, and the
usage errors of a bad --query or input document; the operation layer's own errors (a full disk, training
without data) reach the command as the service's exceptions."""

from __future__ import annotations

import errno
import json

import pytest

from hrnn.errors import InvalidInputException, LimitExceededException
from tuning import cli
from tuning.operations import TABLE

from local_ops import Local

RECIPE = "arn:aws:personalize:::recipe/aws-hrnn"


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_every_operation_of_the_table_is_a_command_with_its_members_as_options():
    commands = {c.operation: c for c in cli.commands()}
    assert set(op for _, op in TABLE) <= set(commands)
    batch = commands["CreateBatchInferenceJob"]
    members = {o.member for o in batch.options if not o.local}
    assert {"jobName", "solutionVersionArn", "jobInput", "jobOutput", "roleArn", "numResults", "tags"} <= members
    assert {o.member for o in batch.options if o.local} == {"overwrite"}
    version = commands["CreateSolutionVersion"]
    assert {o.member for o in version.options if o.local} >= {"interactions", "device", "maxEpochs"}


def test_help_as_the_aws_cli_spells_it(capsys):
    code, out, _ = run(capsys, "help")
    assert code == 0 and "create-dataset-import-job" in out and "get-recommendations" in out
    code, out, _ = run(capsys, "create-campaign", "help")
    assert code == 0 and "--solution-version-arn" in out and "--min-provisioned-tps" in out


def test_list_commands_fetch_every_page_or_as_many_items_as_asked(capsys, tmp_path):
    ws = tmp_path / "ws"
    names = [f"group-{i}" for i in range(5)]
    for name in names:
        code, _, err = run(capsys, "create-dataset-group", "--name", name, "--workspace", ws)
        assert code == 0, err
    code, out, _ = run(capsys, "list-dataset-groups", "--workspace", ws, "--page-size", 2)
    listed = [g["name"] for g in json.loads(out)["datasetGroups"]]
    assert code == 0 and listed == names[::-1]  # every page, newest first
    code, out, _ = run(capsys, "list-dataset-groups", "--workspace", ws, "--max-items", 2, "--page-size", 3)
    first = json.loads(out)
    assert [g["name"] for g in first["datasetGroups"]] == names[::-1][:2] and first["NextToken"]
    code, out, _ = run(capsys, "list-dataset-groups", "--workspace", ws, "--max-items", 2, "--starting-token",
                       first["NextToken"])
    second = json.loads(out)
    assert [g["name"] for g in second["datasetGroups"]] == names[::-1][2:4]
    code, out, _ = run(capsys, "list-dataset-groups", "--workspace", ws, "--starting-token", second["NextToken"])
    assert [g["name"] for g in json.loads(out)["datasetGroups"]] == names[:1] and "NextToken" not in json.loads(out)
    code, out, _ = run(capsys, "list-dataset-groups", "--workspace", ws, "--no-paginate", "--max-results", 2)
    page = json.loads(out)
    assert len(page["datasetGroups"]) == 2 and page["nextToken"]  # one call: the service's own token
    code, _, err = run(capsys, "list-dataset-groups", "--workspace", ws, "--no-paginate", "--max-items", 2)
    assert code == 252 and "--no-paginate" in err
    code, _, err = run(capsys, "list-dataset-groups", "--workspace", ws, "--starting-token", "garbage")
    assert code == 252 and "--starting-token" in err


def test_members_accepted_and_ignored_get_a_note(capsys, tmp_path):
    code, _, err = run(capsys, "create-dataset-group", "--name", "noted", "--role-arn",
                       "arn:aws:iam::123456789012:role/Personalize", "--workspace", tmp_path / "ws")
    assert code == 0 and "roleArn is accepted and ignored" in err


@pytest.mark.parametrize("query, words", [("nosuchfn(recipes)", "Unknown function"), ("abs(recipes)", "abs()"),
                                          ("(" * 5000 + "recipes" + ")" * 5000, "brackets")])
def test_a_bad_query_is_a_usage_error_not_a_traceback(capsys, query, words):
    code, out, err = run(capsys, "list-recipes", "--query", query)
    assert code == 252 and out == "" and words in err and "Traceback" not in err


def test_an_input_document_with_a_key_twice_is_refused(capsys):
    code, _, err = run(capsys, "describe-recipe", "--cli-input-yaml", "recipeArn: a\nrecipeArn: b\n")
    assert code == 252 and "appears more than once" in err


def test_a_version_without_data_is_refused_and_says_what_to_give(capsys, tmp_path):
    ops = Local(tmp_path / "ws")
    request = {"name": "no-data", "recipeArn": RECIPE, "solutionConfig": {}}
    arn = ops("CreateSolution", **request)["solutionArn"]
    with pytest.raises(InvalidInputException, match="--interactions"):
        ops("CreateSolutionVersion", solutionArn=arn)
    grouped = ops("CreateSolution", **{**request, "name": "grouped",
                                       "datasetGroupArn": ops.workspace.store.arn("dataset-group", "nowhere")})
    with pytest.raises(InvalidInputException, match="does not exist here"):
        ops("CreateSolutionVersion", solutionArn=grouped["solutionArn"])
    assert ops.workspace.versions("no-data") == [] and ops.workspace.versions("grouped") == []


@pytest.mark.parametrize("operation", ["CreateDatasetGroup", "CreateSolutionVersion", "CreateDatasetImportJob"])
def test_a_full_disk_is_limit_exceeded(tmp_path, monkeypatch, operation):
    import hrnn.atomic

    data = tmp_path / "i.csv"
    data.write_text("USER_ID,ITEM_ID,TIMESTAMP\nu,i,1700000000\n")
    ops = Local(tmp_path / "ws")
    ops("CreateSolution", name="disk", recipeArn=RECIPE)
    ops("CreateSchema", name="s", schema=json.dumps({"type": "record", "name": "I", "fields": [
        {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"}]}))
    ops("CreateDatasetGroup", name="g")
    dataset = ops("CreateDataset", name="d", schemaArn=ops.workspace.store.arn("schema", "s"),
                  datasetGroupArn=ops.workspace.store.arn("dataset-group", "g"), datasetType="Interactions")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hrnn.atomic.os, "replace", full)
    requests = {"CreateDatasetGroup": ({}, {"name": "another"}),
                "CreateSolutionVersion": ({"interactions": str(data)},
                                          {"solutionArn": ops.workspace.store.arn("solution", "disk")}),
                "CreateDatasetImportJob": ({}, {"jobName": "j", "datasetArn": dataset["datasetArn"],
                                                "dataSource": {"dataLocation": str(data)}})}
    local, request = requests[operation]
    with pytest.raises(LimitExceededException, match="No space left"):
        ops(operation, local=local, **request)


def test_the_region_and_account_of_a_workspace_are_settings_kept_with_it(capsys, tmp_path):
    ws = tmp_path / "ws"
    code, out, err = run(capsys, "create-dataset-group", "--name", "g", "--workspace", ws, "--region", "eu-west-1",
                         "--account-id", "123456789012")
    assert code == 0, err
    assert json.loads(out)["datasetGroupArn"] == "arn:aws:personalize:eu-west-1:123456789012:dataset-group/g"
    code, out, _ = run(capsys, "describe-dataset-group", "--workspace", ws, "--dataset-group-arn",
                       "arn:aws:personalize:eu-west-1:123456789012:dataset-group/g")
    assert code == 0 and json.loads(out)["datasetGroup"]["name"] == "g"  # kept without saying it again
    code, _, err = run(capsys, "list-dataset-groups", "--workspace", ws, "--region", "us-west-2")
    assert code == 254 and "us-west-2" in err and "eu-west-1" in err
    code, _, err = run(capsys, "describe-dataset-group", "--workspace", ws, "--dataset-group-arn",
                       "arn:aws:personalize:us-east-1:000000000000:dataset-group/g")
    assert code == 254 and "ResourceNotFoundException" in err

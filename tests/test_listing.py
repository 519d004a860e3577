"""The List operations through the operation layer: a parent named in the request narrows the list to its
children, a parent that does not exist is ResourceNotFound, and every answer carries the summary members
only (no private bookkeeping, nothing Describe alone returns)."""

from __future__ import annotations

import pytest

from hrnn.errors import ResourceNotFoundException

from live_reference import RECIPE, SCHEMA, TINY
from local_ops import Local


@pytest.fixture()
def two_groups(tmp_path):
    ops = Local(tmp_path / "ws")
    ops("CreateSchema", name="events", schema=SCHEMA)
    schema = ops.workspace.store.arn("schema", "events")
    made = {}
    for name in ("a", "b"):
        group = ops("CreateDatasetGroup", name=name)["datasetGroupArn"]
        made[name] = {
            "group": group,
            "dataset": ops("CreateDataset", name=f"{name}-events", schemaArn=schema, datasetGroupArn=group,
                           datasetType="Interactions")["datasetArn"],
            "filter": ops("CreateFilter", name=f"{name}-filter", datasetGroupArn=group,
                          filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("buy")')["filterArn"],
            "tracker": ops("CreateEventTracker", name=f"{name}-site", datasetGroupArn=group)["eventTrackerArn"],
            "solution": ops("CreateSolution", name=f"{name}-solution", recipeArn=RECIPE, datasetGroupArn=group,
                            solutionConfig={"algorithmHyperParameters": TINY})["solutionArn"],
        }
    return ops, made


LISTS = (  # operation, answer member, ARN member, what is created per group
    ("ListDatasets", "datasets", "datasetArn", "dataset"),
    ("ListFilters", "Filters", "filterArn", "filter"),
    ("ListEventTrackers", "eventTrackers", "eventTrackerArn", "tracker"),
    ("ListSolutions", "solutions", "solutionArn", "solution"),
)


@pytest.mark.parametrize("operation, member, arn, made_key", LISTS)
def test_a_list_narrowed_to_a_dataset_group_holds_its_children_only(two_groups, operation, member, arn, made_key):
    ops, made = two_groups
    everything = [s[arn] for s in ops(operation)[member]]
    assert sorted(everything) == sorted(made[g][made_key] for g in ("a", "b"))
    for g in ("a", "b"):
        assert [s[arn] for s in ops(operation, datasetGroupArn=made[g]["group"])[member]] == [made[g][made_key]]
    unknown = made["a"]["group"].replace("dataset-group/a", "dataset-group/nosuch")
    with pytest.raises(ResourceNotFoundException, match="nosuch"):
        ops(operation, datasetGroupArn=unknown)


def test_list_answers_carry_the_summary_members_only(two_groups):
    ops, made = two_groups
    (tracker,) = ops("ListEventTrackers", datasetGroupArn=made["a"]["group"])["eventTrackers"]
    assert set(tracker) == {"name", "eventTrackerArn", "status", "creationDateTime", "lastUpdatedDateTime"}
    (schema,) = ops("ListSchemas")["schemas"]
    assert set(schema) == {"name", "schemaArn", "creationDateTime", "lastUpdatedDateTime"}  # not the schema text
    groups = ops("ListDatasetGroups", maxResults=1)
    assert [g["name"] for g in groups["datasetGroups"]] == ["b"] and groups["nextToken"]  # newest first, paged
    assert [g["name"] for g in ops("ListDatasetGroups", nextToken=groups["nextToken"])["datasetGroups"]] == ["a"]

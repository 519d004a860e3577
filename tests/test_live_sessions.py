"""Issue 17, live sessions through the operation layer: after a stream of PutEvents, GetRecommendations equals
what the same model computes offline from each user's history plus those events, in the same order, with
session timeouts crossed, an anonymous session that a user then joins, unknown items and a resent event; a
new solution version trains on the imported data plus the tracked events, UpdateCampaign switches to it,
and filters, tags and the deletes follow the service's rules.

In-process (the hrnn command's context); the endpoint runs the same operations (tests/test_live_server.py).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from hrnn.artifact import LoadedModel
from hrnn.errors import InvalidInputException, LimitExceededException, ResourceInUseException, \
    ResourceNotFoundException
from hrnn.synth import generate_interactions

from live_reference import SCHEMA, imported_solution, offline_recommendations
from local_ops import Local

TIMEOUT = 30 * 60


def _sessions(rows: list[dict]) -> list[list[dict]]:
    """A user's events cut where the gap exceeds the session timeout (as ingest cuts them)."""
    out: list[list[dict]] = []
    for row in rows:
        if not out or row["TIMESTAMP"] - out[-1][-1]["TIMESTAMP"] > TIMEOUT:
            out.append([])
        out[-1].append(row)
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    table = generate_interactions(n_users=300, n_items=150, seed=21)
    times = table.column("TIMESTAMP").to_numpy()
    shift = int(time.time()) - 120 - int(times.max())  # the newest event two minutes ago: sessions still open
    table = table.set_column(table.schema.get_field_index("TIMESTAMP"), "TIMESTAMP", pa.array(times + shift))
    table = table.select(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])
    cut = int(np.quantile(table.column("TIMESTAMP").to_numpy(), 0.8))
    past = table.filter(pa.compute.less(table.column("TIMESTAMP"), cut))
    pcsv.write_csv(past, root / "history.csv")
    ops = Local(root / "ws", max_epochs=1)
    group, solution = imported_solution(ops, root / "history.csv", tags=[{"tagKey": "team", "tagValue": "recs"}])
    version = ops("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    campaign = ops("CreateCampaign", name="shop", solutionVersionArn=version)["campaignArn"]
    tracker = ops("CreateEventTracker", name="site", datasetGroupArn=group)
    model = LoadedModel.load(ops.workspace.resolve_version(version).model)
    known = set(model.user_ids.to_pylist())
    future = table.filter(pa.compute.greater_equal(table.column("TIMESTAMP"), cut)).to_pylist()
    by_user: dict[str, list[dict]] = {}
    for row in sorted(future, key=lambda r: r["TIMESTAMP"]):
        by_user.setdefault(row["USER_ID"], []).append(row)
    users = [u for u, rows in sorted(by_user.items()) if u in known and len(_sessions(rows)) >= 2][:12]
    assert len(users) >= 6
    return {"root": root, "ops": ops, "group": group, "solution": solution, "version": version,
            "campaign": campaign, "tracking": tracker["trackingId"], "model": model, "by_user": by_user,
            "users": users, "history": past}


def _put(world, rows: list[dict], user: str | None, session: str, **extra) -> None:
    for lo in range(0, len(rows), 10):
        world["ops"]("PutEvents", service="personalize-events", trackingId=world["tracking"], sessionId=session,
                     **({"userId": user} if user else {}),
                     eventList=[{"eventType": r["EVENT_TYPE"], "itemId": r["ITEM_ID"], "sentAt": r["TIMESTAMP"],
                                 **extra} for r in rows[lo:lo + 10]])


@pytest.fixture(scope="module")
def streamed(world):
    """Every chosen user's new sessions sent as PutEvents; the first user's first session anonymously until its
    last event names the user (who joins it); one event of an item nobody has seen; one event resent."""
    sent: dict[str, list[dict]] = {}
    for n, user in enumerate(world["users"]):
        sessions = _sessions(world["by_user"][user])
        sent[user] = []
        for s, rows in enumerate(sessions):
            if n == 0 and s == 0:
                _put(world, rows[:-1], None, f"anon-{user}")
                _put(world, rows[-1:], user, f"anon-{user}")
            else:
                _put(world, rows, user, f"{user}-{s}")
            sent[user] += rows
    unknown = {"EVENT_TYPE": "click", "ITEM_ID": "never-seen", "TIMESTAMP": sent[world["users"][1]][-1]["TIMESTAMP"]}
    _put(world, [unknown], world["users"][1], "odd")
    resent = sent[world["users"][2]][-1]
    world["ops"]("PutEvents", service="personalize-events", trackingId=world["tracking"], sessionId="again",
                 userId=world["users"][2], eventList=[{"eventId": "e-1", "eventType": "click",
                                                       "itemId": resent["ITEM_ID"], "sentAt": resent["TIMESTAMP"] + 1}])
    world["ops"]("PutEvents", service="personalize-events", trackingId=world["tracking"], sessionId="again",
                 userId=world["users"][2], eventList=[{"eventId": "e-1", "eventType": "click",
                                                       "itemId": resent["ITEM_ID"], "sentAt": resent["TIMESTAMP"] + 1}])
    sent[world["users"][2]].append({**resent, "TIMESTAMP": resent["TIMESTAMP"] + 1})  # once, not twice
    return sent


def _offline(world, sent: dict[str, list[dict]]) -> list[dict]:
    return offline_recommendations(world["model"], world["history"], sent, world["users"], 10)


def test_recommendations_follow_the_events_exactly_as_offline(world, streamed):
    ops = world["ops"]
    expected = _offline(world, streamed)
    now = time.time()
    changed = 0
    for user, want in zip(world["users"], expected):
        got = ops("GetRecommendations", service="personalize-runtime", campaignArn=world["campaign"], userId=user,
                  numResults=10)["itemList"]
        assert [x["itemId"] for x in got] == [x["itemId"] for x in want["itemList"]], user
        assert [x["score"] for x in got] == pytest.approx([x["score"] for x in want["itemList"]], abs=2e-6)
        stored = world["model"].recommend([user], 10, at_time=now)[0]["itemList"]
        changed += [x["itemId"] for x in stored] != [x["itemId"] for x in got]
    assert changed >= len(world["users"]) // 2  # the events moved most users


def test_an_anonymous_session_is_answered_under_its_session_id_and_joins_its_user(world, streamed):
    ops, user = world["ops"], world["users"][0]
    anonymous = ops("GetRecommendations", service="personalize-runtime", campaignArn=world["campaign"],
                    userId=f"anon-{user}", numResults=5)["itemList"]
    popular = world["model"].recommend(["nobody-at-all"], 5)[0]["itemList"]
    assert [x["itemId"] for x in anonymous] != [x["itemId"] for x in popular]  # its own state, not popularity


def test_events_are_recorded_once_and_durably_and_a_new_version_trains_on_them(world, streamed):
    ops = world["ops"]
    log = (world["ops"].workspace.root / "events" / "shop" / "events.log").read_text().splitlines()
    sent = sum(len(rows) for rows in streamed.values()) + 1  # + the event of an item nobody has seen
    assert len(log) == sent and sum('"eventId":"e-1"' in line for line in log) == 1
    retrained = ops("CreateSolutionVersion", solutionArn=world["solution"])["solutionVersionArn"]
    record = ops.workspace.store.find("solution-version", retrained)
    assert record.private["job"]["eventsThrough"] == len(log) - 1
    import pyarrow.parquet as pq

    trained_on = pq.read_table(record.private["job"]["interactions"])
    assert trained_on.num_rows == world["history"].num_rows + sent  # every tracked event, the anonymous ones joined
    assert ops("DescribeCampaign", campaignArn=world["campaign"])["campaign"]["solutionVersionArn"] == world["version"]
    ops("UpdateCampaign", campaignArn=world["campaign"], solutionVersionArn=retrained)
    campaign = ops("DescribeCampaign", campaignArn=world["campaign"])["campaign"]
    assert campaign["solutionVersionArn"] == retrained and campaign["latestCampaignUpdate"]["status"] == "ACTIVE"
    model = LoadedModel.load(ops.workspace.resolve_version(retrained).model)
    user = world["users"][3]
    answer = ops("GetRecommendations", service="personalize-runtime", campaignArn=world["campaign"], userId=user,
                 numResults=5)["itemList"]
    assert [x["itemId"] for x in answer] == [x["itemId"] for x in model.recommend([user], 5)[0]["itemList"]]


def test_filters_use_the_users_interactions_by_event_type(world, streamed):
    ops, user = world["ops"], world["users"][4]
    bought = {r["ITEM_ID"] for r in world["history"].to_pylist() if r["USER_ID"] == user and r["EVENT_TYPE"] == "purchase"}
    bought |= {r["ITEM_ID"] for r in streamed[user] if r["EVENT_TYPE"] == "purchase"}
    exclude = ops("CreateFilter", name="no-purchases", datasetGroupArn=world["group"],
                  filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("PURCHASE")')["filterArn"]
    include = ops("CreateFilter", name="only-types", datasetGroupArn=world["group"],
                  filterExpression="INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($TYPES)")["filterArn"]
    answer = ops("GetRecommendations", service="personalize-runtime", campaignArn=world["campaign"], userId=user,
                 numResults=100, filterArn=exclude)["itemList"]
    assert answer and not {x["itemId"] for x in answer} & bought
    touched = {r["ITEM_ID"] for r in world["history"].to_pylist() if r["USER_ID"] == user} | \
        {r["ITEM_ID"] for r in streamed[user]}
    only = ops("GetRecommendations", service="personalize-runtime", campaignArn=world["campaign"], userId=user,
               numResults=100, filterArn=include, filterValues={"TYPES": '"click","purchase"'})["itemList"]
    assert only and {x["itemId"] for x in only} <= touched
    with pytest.raises(InvalidInputException, match="TYPES"):
        ops("GetRecommendations", service="personalize-runtime", campaignArn=world["campaign"], userId=user,
            filterArn=include)
    with pytest.raises(InvalidInputException, match="Interactions dataset only"):
        ops("CreateFilter", name="genres", datasetGroupArn=world["group"],
            filterExpression='EXCLUDE ItemID WHERE Items.GENRE IN ("x")')
    assert {f["name"] for f in ops("ListFilters", datasetGroupArn=world["group"])["Filters"]} >= {"no-purchases",
                                                                                                  "only-types"}


def test_tags_are_kept_listed_and_removed(world):
    ops = world["ops"]
    assert ops("ListTagsForResource", resourceArn=world["group"])["tags"] == [{"tagKey": "team", "tagValue": "recs"}]
    ops("TagResource", resourceArn=world["campaign"], tags=[{"tagKey": "env", "tagValue": "test"},
                                                            {"tagKey": "owner", "tagValue": "me"}])
    ops("UntagResource", resourceArn=world["campaign"], tagKeys=["owner"])
    assert ops("ListTagsForResource", resourceArn=world["campaign"])["tags"] == [{"tagKey": "env", "tagValue": "test"}]
    with pytest.raises(ResourceNotFoundException):
        ops("ListTagsForResource", resourceArn=world["campaign"] + "-gone")


def test_one_tracker_a_group_and_unknown_tracking_ids(world):
    ops = world["ops"]
    with pytest.raises(LimitExceededException, match="one"):
        ops("CreateEventTracker", name="second", datasetGroupArn=world["group"])
    with pytest.raises(ResourceNotFoundException, match="trackingId"):
        ops("PutEvents", service="personalize-events", trackingId="nope", sessionId="s",
            eventList=[{"eventType": "click", "sentAt": time.time()}])
    with pytest.raises(InvalidInputException, match="eventList"):
        ops("PutEvents", service="personalize-events", trackingId=world["tracking"], sessionId="s", eventList=[])


def test_deletes_follow_the_services_order(tmp_path):
    ops = Local(tmp_path / "ws")
    schema = ops("CreateSchema", name="s", schema=SCHEMA)["schemaArn"]
    group = ops("CreateDatasetGroup", name="g")["datasetGroupArn"]
    dataset = ops("CreateDataset", name="d", schemaArn=schema, datasetGroupArn=group,
                  datasetType="Interactions")["datasetArn"]
    tracker = ops("CreateEventTracker", name="t", datasetGroupArn=group)["eventTrackerArn"]
    with pytest.raises(ResourceInUseException, match="dataset"):
        ops("DeleteDatasetGroup", datasetGroupArn=group)
    with pytest.raises(ResourceInUseException, match="dataset"):
        ops("DeleteSchema", schemaArn=schema)
    ops("DeleteDataset", datasetArn=dataset)
    with pytest.raises(ResourceInUseException, match="event tracker"):
        ops("DeleteDatasetGroup", datasetGroupArn=group)
    ops("DeleteEventTracker", eventTrackerArn=tracker)
    ops("DeleteDatasetGroup", datasetGroupArn=group)
    ops("DeleteSchema", schemaArn=schema)
    for operation, member, arn in (("DescribeDatasetGroup", "datasetGroupArn", group),
                                   ("DescribeSchema", "schemaArn", schema),
                                   ("DescribeEventTracker", "eventTrackerArn", tracker)):
        with pytest.raises(ResourceNotFoundException):
            ops(operation, **{member: arn})


def test_a_batch_job_applies_its_filter_to_every_line(world, streamed, tmp_path):
    ops, users = world["ops"], world["users"][:3]
    flt = ops("CreateFilter", name="batch-clicks", datasetGroupArn=world["group"],
              filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")')["filterArn"]
    (tmp_path / "users.jsonl").write_text("".join(json.dumps({"userId": u}) + "\n" for u in users))
    ops("CreateBatchInferenceJob", jobName="filtered", solutionVersionArn=world["version"], filterArn=flt,
        numResults=50, jobInput={"s3DataSource": {"path": str(tmp_path / "users.jsonl")}},
        jobOutput={"s3DataDestination": {"path": str(tmp_path / "out")}})
    rows = [json.loads(line) for line in (tmp_path / "out" / "users.jsonl.out").read_text().splitlines()]
    for user, row in zip(users, rows):
        clicks = sorted([r for r in world["history"].to_pylist() if r["USER_ID"] == user and r["EVENT_TYPE"] == "click"]
                        + [r for r in streamed[user] if r["EVENT_TYPE"] == "click"], key=lambda r: r["TIMESTAMP"])
        recent = {r["ITEM_ID"] for r in clicks[-100:]}  # as the service: the 100 most recent of each event type
        assert row["error"] is None and row["output"]["recommendedItems"]
        assert not recent & set(row["output"]["recommendedItems"])


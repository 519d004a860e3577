"""Issue 17 through hrnn serve: PutEvents over personalize-events' own protocol moves the next
GetRecommendations; an acknowledged event survives a kill -9 of the server (the restarted server rebuilds
the states from the model and the log); UpdateCampaign switches models with no failed request while
clients hammer GetRecommendations; and unchanged boto3 and AWS CLI code reaches the server through
AWS_ENDPOINT_URL_PERSONALIZE(_RUNTIME, _EVENTS) alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pyarrow.csv as pcsv
import pytest

from hrnn.synth import generate_interactions

from live_reference import imported_solution
from local_ops import Local
from server_helpers import KEY_ID, REGION, SECRET, Server, client, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A workspace with an imported group, two trained versions of one solution, a campaign on the first and
    an event tracker, made in-process; the server is started on it by each test."""
    root = tmp_path_factory.mktemp("live-server")
    table = generate_interactions(n_users=250, n_items=120, seed=31).select(["USER_ID", "ITEM_ID", "TIMESTAMP",
                                                                           "EVENT_TYPE"])
    pcsv.write_csv(table, root / "history.csv")
    ops = Local(root / "ws", max_epochs=1)
    group, solution = imported_solution(ops, root / "history.csv")
    first = ops("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    second = ops("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    campaign = ops("CreateCampaign", name="shop", solutionVersionArn=first)["campaignArn"]
    tracking = ops("CreateEventTracker", name="site", datasetGroupArn=group)["trackingId"]
    users = sorted(set(table.column("USER_ID").to_pylist()))[:20]
    items = sorted(set(table.column("ITEM_ID").to_pylist()))
    return {"root": root, "ws": root / "ws", "campaign": campaign, "tracking": tracking, "versions": (first, second),
            "users": users, "items": items}


def _recommendations(runtime, campaign: str, users: list[str]) -> dict[str, list[str]]:
    return {u: [x["itemId"] for x in runtime.get_recommendations(campaignArn=campaign, userId=u,
                                                                 numResults=8)["itemList"]] for u in users}


def test_events_move_recommendations_and_survive_a_kill_of_the_server(prepared):
    server = Server(prepared["ws"], "--device", "cpu")
    events = client(server.endpoint, "personalize-events")
    runtime = client(server.endpoint, "personalize-runtime")
    users, items = prepared["users"][:6], prepared["items"]
    before = _recommendations(runtime, prepared["campaign"], users)
    now = time.time()
    for n, user in enumerate(users):
        events.put_events(trackingId=prepared["tracking"], userId=user, sessionId=f"s-{user}", eventList=[
            {"eventType": "click", "itemId": items[(7 * n + k) % len(items)], "sentAt": now - 60 + k} for k in range(4)])
    after = _recommendations(runtime, prepared["campaign"], users)
    assert sum(after[u] != before[u] for u in users) >= len(users) // 2  # the events moved them
    server.stop(signal.SIGKILL)
    again = Server(prepared["ws"], "--device", "cpu")
    try:
        rebuilt = _recommendations(client(again.endpoint, "personalize-runtime"), prepared["campaign"], users)
        assert rebuilt == after  # nothing acknowledged was lost: the states came back from the model and the log
    finally:
        again.stop()


def test_update_campaign_switches_models_with_no_failed_request(prepared):
    server = Server(prepared["ws"], "--device", "cpu")
    try:
        api, runtime = client(server.endpoint), client(server.endpoint, "personalize-runtime")
        first, second = prepared["versions"]
        failures: list[BaseException] = []
        answered = [0]
        stop = threading.Event()

        def hammer() -> None:
            mine = client(server.endpoint, "personalize-runtime")
            while not stop.is_set():
                try:
                    mine.get_recommendations(campaignArn=prepared["campaign"], userId=prepared["users"][0])
                    answered[0] += 1
                except BaseException as exc:  # noqa: BLE001 - every failure counts
                    failures.append(exc)

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        target = second if api.describe_campaign(campaignArn=prepared["campaign"])["campaign"][
            "solutionVersionArn"] == first else first
        api.update_campaign(campaignArn=prepared["campaign"], solutionVersionArn=target)
        done = wait_for(lambda: {"c": api.describe_campaign(campaignArn=prepared["campaign"])["campaign"][
            "latestCampaignUpdate"]}, "c")
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        assert done["status"] == "ACTIVE" and done["solutionVersionArn"] == target
        campaign = api.describe_campaign(campaignArn=prepared["campaign"])["campaign"]
        assert campaign["solutionVersionArn"] == target and campaign["status"] == "ACTIVE"
        assert not failures and answered[0] > 10
        assert runtime.get_recommendations(campaignArn=prepared["campaign"], userId=prepared["users"][1])["itemList"]
    finally:
        server.stop()


def test_unchanged_code_reaches_the_server_through_the_endpoint_environment(prepared):
    server = Server(prepared["ws"], "--device", "cpu")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": REGION,
                    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_PAGER": "",
                    "AWS_ENDPOINT_URL_PERSONALIZE": server.endpoint,
                    "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME": server.endpoint,
                    "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS": server.endpoint})
        code = ("import boto3, json, time, sys\n"
                "api, rt, ev = (boto3.client(s) for s in ('personalize', 'personalize-runtime', 'personalize-events'))\n"
                "print(json.dumps({'recipes': [r['name'] for r in api.list_recipes()['recipes']],\n"
                "  'items': len(rt.get_recommendations(campaignArn=sys.argv[1], userId='u')['itemList']),\n"
                "  'put': ev.put_events(trackingId=sys.argv[2], sessionId='x', eventList=[{'eventType': 'click',\n"
                "      'sentAt': time.time()}])['ResponseMetadata']['HTTPStatusCode']}))\n")
        proc = subprocess.run([sys.executable, "-c", code, prepared["campaign"], prepared["tracking"]],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"recipes": ["aws-hrnn"], "items": 25, "put": 200}
        for args in (["personalize", "list-recipes"],
                     ["personalize-runtime", "get-recommendations", "--campaign-arn", prepared["campaign"],
                      "--user-id", "u"],
                     ["personalize-events", "put-events", "--tracking-id", prepared["tracking"], "--session-id", "y",
                      "--event-list", f"eventType=click,sentAt={int(time.time())}"]):
            proc = subprocess.run([sys.executable, "-m", "awscli", *args], capture_output=True, text=True, env=env,
                                  timeout=120)
            assert proc.returncode == 0, (args, proc.stderr)
    finally:
        server.stop()

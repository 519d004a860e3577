"""Benchmark live sessions through ``hrnn serve``: PutEvents throughput and latency, PutEvents followed by
GetRecommendations, and the memory each active user costs.

What runs: a workspace with one ACTIVE solution version whose model has ``--items`` items and ``--hidden``
hidden units (untrained weights: the arithmetic is the same) and the stored states of ``--users`` known users
(their histories from the generator), a dataset group with an event tracker, ``hrnn serve`` on a free loopback
port and a campaign. Client processes then replay the generator's own sessions of those users as new events
(each user's items in order, stamped with the current time), signed as boto3 signs them, over keep-alive
connections, in three phases after a warm-up:

* ``put``: closed-loop clients send PutEvents of ``--events-per-request`` events (1: each click as it happens;
  10: the most the API takes) for ``--duration`` seconds: events/s sustained, p50/p99 per PutEvents;
* ``pair``: each client sends a PutEvents, then a GetRecommendations for the same user: p99 of the pair;
* memory: the server's resident memory before and after the users became active, per active user.

Server and clients share the machine's cores (on the build machine: 2), so the figures are of both at once.

    python scripts/bench_events.py                          # 20K items, hidden 100, 50K users, 8 clients
    python scripts/bench_events.py --events-per-request 1   # each click as it happens
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import (KEY_ID, REGION, SECRET, _cpu_seconds, build_workspace, create_campaign,  # noqa: E402
                         start_server)


def add_live_resources(root: Path, version_arn: str) -> str:
    """A dataset group for the benchmark's solution and its event tracker; the tracking id."""
    from tuning import arns
    from tuning.operations import Context, call, inline_runner
    from tuning.workspace import Workspace

    workspace = Workspace(root)
    ctx = Context(workspace, inline_runner())
    group = call(ctx, "CreateDatasetGroup", {"name": "bench"})["datasetGroupArn"]
    solution = workspace.store.get(arns.SOLUTION, "bench")
    workspace.store.update(solution, {"datasetGroupArn": group})  # the model was built for this group's users
    return call(ctx, "CreateEventTracker", {"name": "bench", "datasetGroupArn": group})["trackingId"]


def user_sessions(rows: int, items: int, seed: int, users: list[str]) -> dict[str, list[str]]:
    """Each known user's generated items in time order: what their new events replay."""
    from hrnn.synth import generate_interactions

    table = generate_interactions(n_users=max(1000, rows // 30), n_items=items, seed=seed, target_rows=rows)
    order = np.lexsort((table.column("TIMESTAMP").to_numpy(), np.asarray(table.column("USER_ID").to_pylist())))
    ids, item_ids = table.column("USER_ID").to_pylist(), table.column("ITEM_ID").to_pylist()
    wanted = set(users)
    out: dict[str, list[str]] = {}
    for i in order:
        if ids[i] in wanted:
            out.setdefault(ids[i], []).append(item_ids[i])
    return out


async def _clients(endpoint: str, campaign: str, tracking: str, sessions: list[tuple[str, list[str]]], clients: int,
                   per_request: int, pair: bool, warmup: float, duration: float) -> dict:
    import aiohttp
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signer = SigV4Auth(Credentials(KEY_ID, SECRET), "personalize", REGION)
    start = time.perf_counter()
    measure_from, end = start + warmup, start + warmup + duration
    put_ms, pair_ms, errors, events = [], [], [0], [0]
    cpu = time.process_time()

    async def post(session, path: str, body: dict) -> int:
        data = json.dumps(body).encode()
        request = AWSRequest(method="POST", url=endpoint + path, data=data, headers={"Content-Type": "application/json"})
        signer.add_auth(request)
        async with session.post(endpoint + path, data=data, headers=dict(request.headers)) as response:
            await response.read()
            return response.status

    async def client(n: int) -> None:
        mine = sessions[n::clients]
        cursor = [0] * len(mine)
        k = 0
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            while time.perf_counter() < end:
                user, items = mine[k % len(mine)]
                at = cursor[k % len(mine)]
                chunk = [items[(at + j) % len(items)] for j in range(per_request)]
                cursor[k % len(mine)] = at + per_request
                k += 1
                now = time.time()
                began = time.perf_counter()
                status = await post(session, "/events", {"trackingId": tracking, "userId": user,
                                                          "sessionId": f"{user}-live", "eventList": [
                                                              {"eventType": "click", "itemId": item,
                                                               "sentAt": now + j * 1e-3}
                                                              for j, item in enumerate(chunk)]})
                put_done = time.perf_counter()
                if pair:
                    status2 = await post(session, "/recommendations", {"campaignArn": campaign, "userId": user,
                                                                       "numResults": 25})
                    status = status if status != 200 else status2
                if began >= measure_from and put_done <= end:
                    put_ms.append(1000 * (put_done - began))
                    pair_ms.append(1000 * (time.perf_counter() - began))
                    events[0] += len(chunk)
                    errors[0] += status != 200

    await asyncio.gather(*(client(n) for n in range(clients)))
    return {"put_ms": put_ms, "pair_ms": pair_ms, "errors": errors[0], "events": events[0],
            "cpu": time.process_time() - cpu}


def _client_process(args: tuple, queue) -> None:
    queue.put(asyncio.run(_clients(*args)))


def run_phase(endpoint: str, campaign: str, tracking: str, sessions, processes: int, clients: int, per_request: int,
              pair: bool, warmup: float, duration: float) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    share = [clients // processes + (i < clients % processes) for i in range(processes)]
    parts = [sessions[i::processes] for i in range(processes)]
    procs = [ctx.Process(target=_client_process, args=((endpoint, campaign, tracking, parts[i], share[i],
                                                        per_request, pair, warmup, duration), queue))
             for i in range(processes)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    put = np.array([x for r in results for x in r["put_ms"]])
    both = np.array([x for r in results for x in r["pair_ms"]])
    out = {"requests": int(put.size), "events": sum(r["events"] for r in results),
           "events_per_second": round(sum(r["events"] for r in results) / duration, 1),
           "put_p50_ms": round(float(np.percentile(put, 50)), 2), "put_p99_ms": round(float(np.percentile(put, 99)), 2),
           "errors": sum(r["errors"] for r in results)}
    if pair:
        out.update({"pair_p50_ms": round(float(np.percentile(both, 50)), 2),
                    "pair_p99_ms": round(float(np.percentile(both, 99)), 2)})
    return out


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--users", type=int, default=50_000, help="known users (their stored states)")
    parser.add_argument("--active", type=int, default=20_000, help="users whose sessions are replayed")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--events-per-request", type=int, default=10)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = args.users * 30
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        version, users, n_items = build_workspace(Path(tmp), args.items, args.hidden, rows, args.seed)
        tracking = add_live_resources(Path(tmp), version)
        by_user = user_sessions(rows, args.items, args.seed, users)
        active = [(u, by_user[u]) for u in users[:args.active] if by_user.get(u)]
        server, endpoint = start_server(Path(tmp), 1)
        try:
            campaign = create_campaign(endpoint, version)
            load_before = os.getloadavg()
            rss_before, cpu_before = _rss_bytes(server.pid), _cpu_seconds(server.pid)
            put = run_phase(endpoint, campaign, tracking, active, args.processes, args.clients,
                            args.events_per_request, False, args.warmup, args.duration)
            rss_after = _rss_bytes(server.pid)
            put["server_cpu_ms_per_request"] = round(1000 * (_cpu_seconds(server.pid) - cpu_before)
                                                     / max(put["requests"], 1), 3)  # warm-up requests count too
            pair = run_phase(endpoint, campaign, tracking, active, args.processes, args.clients,
                             args.events_per_request, True, args.warmup, args.duration)
        finally:
            server.terminate()
            server.wait(timeout=30)
    touched = min(len(active), put["requests"])
    result = {"put": put, "pair": pair, "items": n_items, "hidden": args.hidden, "known_users": len(users),
              "active_users": touched, "events_per_request": args.events_per_request,
              "memory_per_active_user_bytes": round((rss_after - rss_before) / max(touched, 1)),
              "load": f"{args.clients} closed-loop clients in {args.processes} process(es)",
              "cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before]}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"PutEvents ({args.events_per_request} events each): {put['events_per_second']:,} events/s, p50 "
              f"{put['put_p50_ms']} ms, p99 {put['put_p99_ms']} ms, errors {put['errors']}; PutEvents then "
              f"GetRecommendations: p50 {pair['pair_p50_ms']} ms, p99 {pair['pair_p99_ms']} ms; "
              f"{result['memory_per_active_user_bytes']:,} bytes per active user ({touched:,} active); "
              f"{n_items:,} items, hidden {args.hidden}, {len(users):,} known users; {result['load']}; "
              f"{os.cpu_count()} CPUs, load average before {result['loadavg_before']}")
    return result


if __name__ == "__main__":
    main()

"""Benchmark GetRecommendations through ``hrnn serve``: throughput and p50/p99 latency over loopback.

What runs: a workspace is built with one ACTIVE solution version whose model has ``--items`` items (every
one of them scored per request) and ``--hidden`` hidden units (untrained weights: the arithmetic is the
same), ``hrnn serve`` starts on a free loopback port, a campaign is created through boto3, and client
processes send GetRecommendations (``numResults`` 25, a random known user each, signed with botocore's
SigV4 signer as boto3 signs) for ``--duration`` seconds after a warm-up.

Two load shapes:

* closed loop (default): ``--clients`` concurrent clients, each sending its next request when the last
  one is answered; the throughput is what the server sustains at that concurrency;
* open loop (``--rate R``): requests start at R per second whatever the answers do, and a request's latency
  counts from when it was due, so queueing shows in the percentiles.

    python scripts/bench_serve.py                       # 20K items, hidden 100, 16 clients, 20 s
    python scripts/bench_serve.py --rate 500 --json     # open loop at 500 requests/s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing

KEY_ID, SECRET = "AKIDBENCHSERVE", "bench-serve-secret-0123456789"
RECIPE = "arn:aws:personalize:::recipe/aws-hrnn"
REGION = "us-east-1"


def build_workspace(root: Path, items: int, hidden: int, rows: int, seed: int) -> tuple[str, list[str], int]:
    """A workspace with one ACTIVE version whose model scores exactly ``items`` items: (ARN, users, items)."""
    import pyarrow as pa
    import torch

    from hrnn.artifact import save_model
    from hrnn.data import DataConfig, build_interactions
    from hrnn.model import HRNN, ModelConfig
    from hrnn.synth import generate_interactions
    from hrnn.synth.generate import id_strings
    from tuning import arns
    from tuning.operations import Context, call, inline_runner
    from tuning.request import parse_create_solution
    from tuning.workspace import Workspace

    table = generate_interactions(n_users=max(1000, rows // 30), n_items=items, seed=seed, target_rows=rows)
    seen = set(table.column("ITEM_ID").to_pylist())
    missing = sorted(set(id_strings(np.empty(0, np.int64), items)[1].to_pylist()) - seen)
    if missing:  # every catalogue item in the model: one extra event each, by existing users
        rng = np.random.default_rng(seed)
        users = table.column("USER_ID").to_pylist()
        times = table.column("TIMESTAMP").to_numpy()
        extra = pa.table({"USER_ID": [users[i] for i in rng.integers(0, len(users), len(missing))],
                          "ITEM_ID": missing,
                          "TIMESTAMP": rng.integers(times.min(), times.max(), len(missing))})
        table = pa.concat_tables([table.select(["USER_ID", "ITEM_ID", "TIMESTAMP"]),
                                  extra.cast(table.select(["USER_ID", "ITEM_ID", "TIMESTAMP"]).schema)])
    data = build_interactions(table, DataConfig(max_user_history_length_percentile=1.0, check_minimums=False))
    request = {"name": "bench", "recipeArn": RECIPE, "performHPO": False,
               "solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": str(hidden)}}}
    workspace = Workspace(root)
    call(Context(workspace, inline_runner()), "CreateSolution", request)
    version = workspace.version("bench", "00000001")
    version.path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = HRNN(ModelConfig(n_items=data.n_items, hidden_dimension=hidden)).eval()
    save_model(version.model, model, data, data, parse_create_solution(request).hyperparameters.to_wire(),
               {"benchmark": "untrained weights"}, session_timeout_seconds=1800.0)
    arn = workspace.store.arn(arns.SOLUTION_VERSION, "bench/00000001")
    workspace.store.create(arns.SOLUTION_VERSION, "bench/00000001", {
        "name": "bench-00000001", "solutionVersionArn": arn, "status": "ACTIVE", "solutionArn": arn.rsplit("/", 1)[0],
        "recipeArn": RECIPE, "trainingMode": "FULL"})
    return arn, [str(u) for u in data.user_ids.to_pylist()], data.n_items


def start_server(workspace: Path, inference_threads: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "HRNN_ACCESS_KEY_ID": KEY_ID, "HRNN_SECRET_ACCESS_KEY": SECRET,
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "tuning.cli", "serve", "--port", "0", "--workspace", str(workspace),
                             "--inference-threads", str(inference_threads)],
                            stdout=subprocess.PIPE, stderr=sys.stderr, env=env, text=True)
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("hrnn serve did not start")
    return proc, json.loads(line)["endpoint"]


def create_campaign(endpoint: str, version_arn: str) -> str:
    import boto3

    client = boto3.client("personalize", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    arn = client.create_campaign(name="bench", solutionVersionArn=version_arn)["campaignArn"]
    while client.describe_campaign(campaignArn=arn)["campaign"]["status"] != "ACTIVE":
        time.sleep(0.2)
    return arn


# ---- the load --------------------------------------------------------------------------------------

async def _load(endpoint: str, campaign: str, users: list[str], clients: int, rate: float | None,
                warmup: float, duration: float, seed: int) -> dict:
    import aiohttp
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signer = SigV4Auth(Credentials(KEY_ID, SECRET), "personalize", REGION)
    url = endpoint + "/recommendations"
    rng = random.Random(seed)
    start = time.perf_counter()
    measure_from, end = start + warmup, start + warmup + duration
    latencies: list[float] = []
    failures = {"count": 0, "status": {}}
    sent = {"count": 0}
    cpu_start = time.process_time()

    async def one(session: aiohttp.ClientSession, due: float) -> None:
        sent["count"] += 1
        body = json.dumps({"campaignArn": campaign, "userId": rng.choice(users), "numResults": 25}).encode()
        request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        signer.add_auth(request)
        async with session.post(url, data=body, headers=dict(request.headers)) as response:
            await response.read()
            status = response.status
        done = time.perf_counter()
        if measure_from <= due < end:
            latencies.append(done - due)
            if status != 200:
                failures["count"] += 1
                failures["status"][status] = failures["status"].get(status, 0) + 1

    connector = aiohttp.TCPConnector(limit=0 if rate else clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        if rate:
            tasks, interval, due = [], 1.0 / rate, start
            while due < end:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tasks.append(asyncio.ensure_future(one(session, due)))
                due += interval
            await asyncio.gather(*tasks)
        else:
            async def client() -> None:
                while time.perf_counter() < end:
                    await one(session, time.perf_counter())
            await asyncio.gather(*(client() for _ in range(clients)))
    return {"latencies": latencies, "failures": failures, "sent": sent["count"], "cpu": time.process_time() - cpu_start}


def _client_process(args: tuple, queue) -> None:
    queue.put(asyncio.run(_load(*args)))


def run_load(endpoint: str, campaign: str, users: list[str], processes: int, clients: int, rate: float | None,
             warmup: float, duration: float) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    share = [clients // processes + (i < clients % processes) for i in range(processes)]
    procs = [ctx.Process(target=_client_process, args=((endpoint, campaign, users, share[i],
                                                        rate / processes if rate else None, warmup, duration, i),
                                                       queue)) for i in range(processes)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = np.array([x for r in results for x in r["latencies"]]) * 1000.0
    errors = sum(r["failures"]["count"] for r in results)
    return {"requests": int(latencies.size), "requests_per_second": round(latencies.size / duration, 1),
            "p50_ms": round(float(np.percentile(latencies, 50)), 2),
            "p90_ms": round(float(np.percentile(latencies, 90)), 2),
            "p99_ms": round(float(np.percentile(latencies, 99)), 2),
            "max_ms": round(float(latencies.max()), 2), "errors": errors,
            "client_cpu_ms_per_request": round(1000 * sum(r["cpu"] for r in results) / sum(r["sent"] for r in results), 3),
            "served": sum(r["sent"] for r in results)}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--rows", type=int, default=300_000, help="interactions behind the model (its users)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (closed loop)")
    parser.add_argument("--rate", type=float, default=None, help="open loop: requests started per second")
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--inference-threads", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        version, users, n_items = build_workspace(Path(tmp), args.items, args.hidden, args.rows, args.seed)
        server, endpoint = start_server(Path(tmp), args.inference_threads)
        try:
            campaign = create_campaign(endpoint, version)
            load_before = os.getloadavg()
            cpu_before = _cpu_seconds(server.pid)
            result = run_load(endpoint, campaign, users, args.processes, args.clients, args.rate, args.warmup,
                              args.duration)
            served = result.pop("served")
            result["server_cpu_ms_per_request"] = round(1000 * (_cpu_seconds(server.pid) - cpu_before) / served, 3)
        finally:
            server.terminate()
            server.wait(timeout=30)
    result.update({"items": n_items, "hidden": args.hidden, "known_users": len(users), "num_results": 25,
                   "load": f"{'open loop at %g/s' % args.rate if args.rate else f'{args.clients} closed-loop clients'}"
                           f" in {args.processes} process(es)", "duration_s": args.duration,
                   "cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before]})
    if args.json:
        print(json.dumps(result))
    else:
        print(f"GetRecommendations: {result['requests_per_second']} requests/s, p50 {result['p50_ms']} ms, "
              f"p99 {result['p99_ms']} ms, errors {result['errors']}; server CPU "
              f"{result['server_cpu_ms_per_request']} ms/request ({result['load']}; {n_items:,} items, "
              f"hidden {args.hidden}; {os.cpu_count()} CPUs, load average before {result['loadavg_before']})")
    return result


if __name__ == "__main__":
    main()

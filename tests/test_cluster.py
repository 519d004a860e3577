"""A two-node Ray cluster on this machine, an HPO submitted to it with ``ray job submit``.

Both nodes run from private temp dirs on free ports, so the test cannot collide with another Ray on the
machine; it is torn down by PID (processes that name or hold files in those temp dirs, or carry this test's
environment marker), never with ``ray stop``, which would stop every Ray on the machine.
The job is the ordinary ``hrnn run`` command, submitted through ``scripts/submit_ray_job.sh``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from hrnn.synth import generate_interactions, write_interactions
from tuning.ray_env import kill_processes, ray_processes

ROOT = Path(__file__).resolve().parents[1]
SUBMIT = ROOT / "scripts" / "submit_ray_job.sh"
RAY = Path(sys.executable).with_name("ray")
HRNN = Path(sys.executable).with_name("hrnn")

REQUEST = {
    "name": "cluster-hpo",
    "recipeArn": "arn:aws:personalize:::recipe/aws-hrnn",
    "performHPO": True,
    "solutionConfig": {
        "algorithmHyperParameters": {"epochs": "2", "batch_size": "16", "num_negatives": "16"},
        "hpoConfig": {
            "hpoResourceConfig": {"maxNumberOfTrainingJobs": "2", "maxParallelTrainingJobs": "2"},
            "algorithmHyperParameterRanges": {
                "integerHyperParameterRanges": [{"name": "hidden_dimension", "minValue": 32, "maxValue": 40}],
                "categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["true", "false"]}],
            },
        },
    },
}


def free_ports(n: int) -> list[int]:
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run(cmd: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"{' '.join(cmd[1:3])}: {time.monotonic() - started:.1f}s")  # shown with -s or on failure
    assert done.returncode == 0, f"{' '.join(cmd[:3])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _submit(env: dict, **locations) -> subprocess.CompletedProcess:
    """scripts/submit_ray_job.sh with a stand-in ``ray`` that only says how it was called."""
    return subprocess.run(["bash", str(SUBMIT), "--quiet"], env={**env, **locations}, capture_output=True, text=True,
                          timeout=30)


def test_submission_is_refused_without_locations_the_head_node_can_read(tmp_path):
    """The job runs on the head node: the request and the interactions must be named where it can read
    them. A missing, relative or checkout location (a remote head has no copy of this checkout), or an
    object URI that hrnn does not read, is refused before anything is submitted."""
    ray = tmp_path / "ray"
    ray.write_text('#!/bin/sh\necho "ray $*"\n')
    ray.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "RAY": str(ray), "RAY_ADDRESS": "http://10.1.2.3:8265",
           "HRNN_WORKSPACE": "/shared/ws", "HPO_STORAGE": "s3://bucket/hpo"}
    shared = {"HPO_REQUEST": "/shared/request.json", "HPO_DATA": "file:///shared/interactions.parquet"}
    cases = [
        ({"HPO_DATA": shared["HPO_DATA"]}, "HPO_REQUEST"),  # no default any more
        ({"HPO_REQUEST": shared["HPO_REQUEST"]}, "HPO_DATA"),
        ({**shared, "HPO_REQUEST": "request.json"}, "relative path"),
        ({**shared, "HPO_DATA": str(ROOT / "data" / "sample_interactions.csv")}, "lies in this checkout"),
        ({**shared, "HPO_DATA": "s3://bucket/interactions.csv"}, "hrnn reads this from a file"),
        ({**shared, "HRNN_WORKSPACE": "ws"}, "HRNN_WORKSPACE=ws is a relative path"),
        ({**shared, "HPO_STORAGE": "results"}, "HPO_STORAGE=results is a relative path"),
    ]
    for locations, words in cases:
        done = _submit(env, **locations)
        assert done.returncode != 0 and words in done.stderr, (locations, done.stderr)
        assert "ray job submit" not in done.stdout  # nothing was submitted
    done = _submit(env, **shared)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ray", "job", "submit", "--address", "http://10.1.2.3:8265", "--", "hrnn", "run",
                                   "--workspace", "/shared/ws", "--storage", "s3://bucket/hpo", "--request",
                                   "/shared/request.json", "--interactions", "file:///shared/interactions.parquet",
                                   "--quiet"]
    # A job server on this machine reads this machine's files, the checkout included.
    local = _submit({**env, "RAY_ADDRESS": "http://127.0.0.1:8265"},
                    **{**shared, "HPO_DATA": str(ROOT / "data" / "sample_interactions.csv")})
    assert local.returncode == 0 and str(ROOT / "data" / "sample_interactions.csv") in local.stdout, local.stderr


@pytest.mark.slow
def test_hpo_job_on_two_node_cluster(tmp_path):
    marker = f"HRNN_TEST_RAY={uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", HRNN_TEST_RAY=marker.split("=", 1)[1],
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(ROOT))
    # Short temp dirs (Ray's unix socket paths must stay under 108 characters), one per node.
    temp_dirs = [tempfile.mkdtemp(prefix="rc", dir="/tmp") for _ in range(2)]
    gcs, dashboard, client, *node_ports = free_ports(9)
    per_node = [node_ports[0:3], node_ports[3:6]]
    storage = tmp_path / "store"
    common = ["--num-cpus=1", "--num-gpus=0", "--object-store-memory=100000000", "--disable-usage-stats"]

    def node_args(i):
        agent, grpc, metrics = per_node[i]
        return [f"--temp-dir={temp_dirs[i]}", f"--dashboard-agent-listen-port={agent}",
                f"--dashboard-agent-grpc-port={grpc}", f"--metrics-export-port={metrics}"]

    try:
        run([str(RAY), "start", "--head", f"--port={gcs}", "--include-dashboard=true",
             "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--ray-client-server-port={client}",
             *common, *node_args(0)], env, timeout=90)
        run([str(RAY), "start", f"--address=127.0.0.1:{gcs}", *common, *node_args(1)], env, timeout=90)

        # scripts/submit_ray_job.sh -> ray job submit -> `hrnn run` on the head node
        data = tmp_path / "interactions.csv"
        write_interactions(generate_interactions(n_users=300, n_items=150, seed=2), data)
        request = tmp_path / "request.json"
        request.write_text(json.dumps(REQUEST))
        workspace = tmp_path / "ws"
        job_env = dict(env, RAY_ADDRESS=f"http://127.0.0.1:{dashboard}", HRNN_WORKSPACE=str(workspace),
                       HPO_STORAGE=str(storage), HPO_REQUEST=str(request), HPO_DATA=str(data),
                       HRNN=str(HRNN), RAY=str(RAY))
        job = run(["bash", str(SUBMIT), "--quiet", "--refit"], job_env, timeout=180)  # extra options reach hrnn run
        assert "succeeded" in (job.stdout + job.stderr)

        versions = list((workspace / "solutions" / "cluster-hpo" / "versions").iterdir())
        assert len(versions) == 1
        version = versions[0]
        described = json.loads((version / "describe.json").read_text())["public"]
        assert described["status"] == "ACTIVE"
        assert set(described["tunedHPOParams"]["algorithmHyperParameters"]) == {"hidden_dimension", "bptt",
                                                                                "recency_mask"}
        assert described["tunedHPOParams"]["algorithmHyperParameters"]["bptt"] == "32"  # fixed (default) value
        rows = json.loads((version / "trials.json").read_text())["trials"]
        trials = [t for t in rows if t["role"] != "refit"]
        assert len(trials) == 2 and all(t["status"] == "TERMINATED" and t["epochs"] == 2 for t in trials)
        assert rows[-1]["role"] == "refit" and (version / "best_trial_model" / "weights.pt").is_file()
        assert len({t["node"] for t in trials}) == 2  # two 1-CPU nodes, two parallel trials: one on each
        assert all(t["device"].startswith("cpu") for t in trials)
        assert (version / "metrics.json").is_file() and (version / "model" / "weights.pt").is_file()
        # The trials' results and final checkpoints arrived in the shared experiment storage.
        for t in trials:
            trial_dir = next(storage.glob(f"hpo-*/attempt-*/{t['trial_id']}"))
            assert (trial_dir / "result.json").is_file()
            assert len(list(trial_dir.glob("checkpoint_*/checkpoint.pt"))) == 1
    finally:
        started = time.monotonic()
        pids = set(ray_processes(None, marker))
        for temp_dir in temp_dirs:
            pids.update(ray_processes(temp_dir))
        left = kill_processes(sorted(pids), timeout=4)
        for temp_dir in temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)
        print(f"teardown: {time.monotonic() - started:.1f}s")
    assert left == []
    assert ray_processes(None, marker) == []

"""Issue 12, signals and what listens: Ctrl-C (SIGINT) or SIGTERM stops a solution version as
``CREATE STOPPED`` with the reason, says so on stderr, exits 130 / 143 without a traceback or a native stack
dump, and the same command resumes it to ACTIVE. While an HPO runs, its local Ray listens on loopback only
and has token authentication on (checked by listing the run's sockets in /proc).

The commands run as subprocesses in their own session, so a signal reaches them as a terminal's would. To
hit a run mid-training whatever the machine's speed, the test freezes it (SIGSTOP) as soon as its first
checkpoint appears, queues the signal, and lets it go on (SIGCONT).
"""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from hrnn.synth import generate_interactions, write_interactions
from tuning.ray_env import kill_processes, ray_processes
from tuning.workspace import Workspace

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).with_name("hrnn")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tuning.cli"]
ROOT = Path(__file__).resolve().parents[1]
RECIPE = "arn:aws:personalize:::recipe/aws-hrnn"
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def _env(**extra) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(ROOT), **extra}
    for name in ("HRNN_WORKSPACE", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS"):
        env.pop(name, None)
    return env


def _setup(tmp_path: Path, request: dict) -> tuple[list[str], Path]:
    interactions = write_interactions(generate_interactions(n_users=150, n_items=80, seed=6), tmp_path / "i.csv")
    (tmp_path / "request.json").write_text(json.dumps(request))
    ws = tmp_path / "ws"
    done = subprocess.run([*COMMAND, "create-solution", tmp_path / "request.json", "--workspace", ws],
                          capture_output=True, text=True, env=_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    arn = json.loads(done.stdout)["solutionArn"]
    return [*COMMAND, "create-solution-version", "--solution-arn", arn, "--interactions", str(interactions),
            "--workspace", str(ws), "--device", "cpu"], ws


def _signal_when(command: list[str], pattern: str, signum: int, env: dict, on_checkpoint=None):
    """Start ``command``; when a file matching ``pattern`` appears, freeze it, queue ``signum``, resume it."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while not glob.glob(pattern, recursive=True):
        assert proc.poll() is None, f"ended before its first checkpoint: {proc.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGSTOP)
    try:
        if on_checkpoint is not None:
            on_checkpoint(proc)
    finally:
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)  # a terminal's Ctrl-C reaches the whole foreground group
        else:
            os.kill(proc.pid, signum)  # a supervisor signals the job process
        os.killpg(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _clean_stop(rc: int, out: str, err: str, expected_rc: int, name: str) -> str:
    assert rc == expected_rc, f"exit {rc}\n{err[-3000:]}"
    for bad in ("Traceback", "*** SIG", "Fatal Python error", "Aborted"):
        assert bad not in err, err[-3000:]
    arn = json.loads(out)["solutionVersionArn"]  # the version is named even though it did not finish
    assert f"Stopped by {name}: solution version {arn} is CREATE STOPPED; run the same command to resume it" in err
    return arn


def _stopped(ws: Path, arn: str, name: str) -> None:
    described = Workspace.at(ws).resolve_version(arn).read_describe()
    assert described["status"] == "CREATE STOPPED"
    assert f"Stopped by {name}" in described["failureReason"] and "resume" in described["failureReason"]


def test_sigint_stops_a_single_training_resumably_and_the_same_command_resumes(tmp_path):
    command, ws = _setup(tmp_path, {
        "name": "sigint", "recipeArn": RECIPE, "performHPO": False,
        "solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": "32", "bptt": "4", "epochs": "4",
                                                        "batch_size": "16", "num_negatives": "32"}}})
    pattern = str(ws / "solutions" / "sigint" / "versions" / "*" / "checkpoint" / "checkpoint.pt")
    rc, out, err = _signal_when(command, pattern, signal.SIGINT, _env())
    arn = _clean_stop(rc, out, err, 130, "SIGINT")
    _stopped(ws, arn, "SIGINT")

    again = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["solutionVersionArn"] == arn  # the same version, resumed
    assert "resuming after epoch" in again.stderr
    version = Workspace.at(ws).resolve_version(arn)
    assert version.read_describe()["status"] == "ACTIVE"
    assert [e["epoch"] for e in version.read_trials()[0]["history"]] == [1, 2, 3, 4]


def _listening(pids: set[int]) -> list[tuple[int, str, str, int]]:
    """(pid, protocol, address, port) of every listening TCP socket (and bound UDP one) of ``pids``."""
    inodes = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes[int(target[8:-1])] = pid
        except OSError:
            continue
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6), ("udp", socket.AF_INET),
                          ("udp6", socket.AF_INET6)):
        with open(f"/proc/net/{table}") as fh:
            for line in fh.read().splitlines()[1:]:
                fields = line.split()
                inode = int(fields[9])
                if inode in inodes and (fields[3] == "0A" or table.startswith("udp")):  # 0A: LISTEN
                    hex_ip, hex_port = fields[1].split(":")
                    raw = bytes.fromhex(hex_ip)
                    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                    found.append((inodes[inode], table, socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_an_hpo_cleanly_its_ray_listens_on_loopback_with_auth_and_it_resumes(tmp_path, signum, status):
    """SIGINT as a terminal sends it (to the process group), SIGTERM as a supervisor does (to the process)."""
    name = signal.Signals(signum).name
    command, ws = _setup(tmp_path, {
        "name": "sigterm", "recipeArn": RECIPE, "performHPO": True,
        "solutionConfig": {
            "algorithmHyperParameters": {"epochs": "3", "batch_size": "16", "num_negatives": "16", "bptt": "4"},
            "hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "2", "maxParallelTrainingJobs": "2"},
                          "algorithmHyperParameterRanges": {"integerHyperParameterRanges": [
                              {"name": "hidden_dimension", "minValue": 32, "maxValue": 40}]}}}})
    marker = uuid.uuid4().hex
    env = _env(HRNN_TEST_RAY=marker)
    pattern = str(ws / "solutions" / "sigterm" / "versions" / "*" / "ray" / "**" / "checkpoint_*")
    seen = {}

    def inspect(proc):
        pids = set(ray_processes(None, f"HRNN_TEST_RAY={marker}")) | {proc.pid}
        seen["sockets"] = _listening(pids)
        names = {pid: Path(f"/proc/{pid}/comm").read_text().strip() for pid in pids if Path(f"/proc/{pid}").exists()}
        seen["names"] = names
        gcs = [pid for pid, name in names.items() if name == "gcs_server"]
        seen["gcs_env"] = Path(f"/proc/{gcs[0]}/environ").read_bytes().split(b"\0") if gcs else []

    try:
        rc, out, err = _signal_when(command, pattern, signum, env, inspect)
    finally:
        leftovers = ray_processes(None, f"HRNN_TEST_RAY={marker}")
        kill_processes(leftovers, timeout=4)
    arn = _clean_stop(rc, out, err, status, name)
    _stopped(ws, arn, name)

    sockets = seen["sockets"]
    listeners = {seen["names"].get(pid) for pid, *_ in sockets}
    assert {"gcs_server", "raylet"} <= listeners, sockets
    exposed = [s for s in sockets if s[2] not in LOOPBACK]
    assert not exposed, f"listening beyond loopback: {exposed}"
    assert b"RAY_AUTH_MODE=token" in seen["gcs_env"]
    assert any(e.startswith(b"RAY_AUTH_TOKEN=") and len(e) > 40 for e in seen["gcs_env"])

    again = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["solutionVersionArn"] == arn
    assert "[hpo] resuming" in again.stderr
    version = Workspace.at(ws).resolve_version(arn)
    assert version.read_describe()["status"] == "ACTIVE"
    trials = version.read_trials()
    assert len(trials) == 2 and all(t["status"] == "TERMINATED" and t["epochs"] == 3 for t in trials)

"""Starting or joining Ray, and sizing trials against what the cluster has.

Why a separate module: the HPO driver, the job entry point, the benchmark and the tests all start Ray the
same way, and the facts behind the choices are measured ones (``shared/reference/RAY_NOTES.md``):

* ``RAY_ADDRESS`` set (``ray job submit`` sets it for the job's driver, or the user points at a cluster):
  join that cluster. ``ray.init`` then must not get ``num_cpus``/``num_gpus``/``object_store_memory``
  (it raises ValueError when connecting).
* Otherwise always ``address="local"``: a plain ``ray.init()`` would silently join any cluster that
  ``ray start`` left on the machine (``/tmp/ray/ray_current_cluster``).
* **A local Ray listens on loopback only, with token authentication on** (measured: without this, Ray
  2.60's gcs_server, raylet, workers and agents listened on ``*``/``0.0.0.0`` with authentication off).
  ``_node_ip_address="127.0.0.1"`` plus ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps Ray from replacing
  the loopback address by the host's address, so every server binds ``127.0.0.1``; ``RAY_AUTH_MODE=token``
  with a fresh random ``RAY_AUTH_TOKEN`` in this process's environment (inherited by the processes Ray
  starts, readable only by this user) turns authentication on without writing ``~/.ray/auth_token``. A
  caller who sets ``RAY_AUTH_MODE`` or a token keeps them. A cluster run (``RAY_ADDRESS``) is the
  cluster's configuration and is left as it is.
* ``RAY_USAGE_STATS_ENABLED=0`` is set, and Tune's own SIGINT handler is off
  (``TUNE_DISABLE_SIGINT_HANDLER=1``): :mod:`tuning.interrupts` stops a run on SIGINT and SIGTERM.
* The object store is capped (its default is 30% of RAM in /dev/shm); the prepared dataset is the only
  large object and goes through it once.
* Requested GPUs that the cluster does not have make Tune wait forever (trials stay PENDING with only a
  warning after 60 s), so :func:`trial_resources` checks first and raises.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import signal
from dataclasses import dataclass

from hrnn.errors import InvalidInputException

# No usage stats; Tune's own console output and SIGINT handler off (the legacy reporter at verbose=0 prints
# nothing; the HPO driver prints its own lines), no experiment-sync warnings.
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS": "0",
}
MIN_OBJECT_STORE = 128 * 1024**2
MAX_OBJECT_STORE = 2 * 1024**3


def set_ray_environment() -> None:
    """Set the environment defaults above (never overriding what the caller set)."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)


def object_store_bytes(payload_bytes: int = 0) -> int:
    """A local object store big enough for the dataset a few times over, within [128 MiB, 2 GiB]."""
    return int(min(MAX_OBJECT_STORE, max(MIN_OBJECT_STORE, 4 * payload_bytes)))


def init_ray(*, num_cpus: int | None = None, num_gpus: int | None = None, object_store_memory: int | None = None,
             temp_dir: str | None = None, quiet: bool = True) -> bool:
    """Start (or join) Ray unless it is already initialised. Returns True when this call started it."""
    import ray

    set_ray_environment()
    if ray.is_initialized():
        return False
    level = logging.ERROR if quiet else logging.WARNING
    address = os.environ.get("RAY_ADDRESS", "").strip()
    if address:
        if address.startswith(("http://", "https://")):
            raise InvalidInputException(
                f"RAY_ADDRESS={address} is a job server (dashboard) address: submit the HPO with "
                "scripts/submit_ray_job.sh (ray job submit), or point RAY_ADDRESS at the cluster itself "
                "(<head ip>:6379 or 'auto') to drive it from this process.")
        # ray job submit / an existing cluster: sizes belong to the cluster, not to us.
        with _keeping_sigterm_handler():
            ray.init(log_to_driver=False, logging_level=level)
    else:
        secure_local_ray()
        with _keeping_sigterm_handler():
            ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                     log_to_driver=False, logging_level=level, _node_ip_address=LOOPBACK,
                     object_store_memory=object_store_memory or object_store_bytes(), _temp_dir=temp_dir)
    return True


LOOPBACK = "127.0.0.1"


def secure_local_ray() -> None:
    """Environment of a local Ray that listens on loopback only and authenticates (module docstring)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read by the processes Ray starts
    try:  # ...and, in this process, read once when Ray was imported
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
    except (ImportError, AttributeError):  # pragma: no cover
        pass
    if os.environ.get("RAY_AUTH_MODE") is None:
        os.environ["RAY_AUTH_MODE"] = "token"
    if (os.environ["RAY_AUTH_MODE"].lower() == "token" and not os.environ.get("RAY_AUTH_TOKEN")
            and not os.environ.get("RAY_AUTH_TOKEN_PATH")):
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    try:  # Ray caches its configuration when imported; read the environment again (as Ray itself does)
        from ray._raylet import Config

        Config.initialize("")
    except (ImportError, AttributeError):  # pragma: no cover - a Ray without it reads the environment late
        pass


class _keeping_sigterm_handler:
    """``ray.init`` replaces the driver's SIGTERM handler (with ``sys.exit``); put the caller's back."""

    def __enter__(self):
        self.previous = signal.getsignal(signal.SIGTERM)

    def __exit__(self, *exc):
        if self.previous is not None:
            try:
                signal.signal(signal.SIGTERM, self.previous)
            except ValueError:  # not the main thread: ray.init did not install one either
                pass


@dataclass(frozen=True)
class TrialResources:
    cpu: float
    gpu: float

    def as_dict(self) -> dict:
        return {"cpu": self.cpu, "gpu": self.gpu}


def largest_node(nodes: list[dict]) -> tuple[float, float]:
    """(CPUs, GPUs) of the alive node with the most of each (a trial must fit on one node)."""
    cpus = [n.get("Resources", {}).get("CPU", 0.0) for n in nodes if n.get("Alive", True)]
    gpus = [n.get("Resources", {}).get("GPU", 0.0) for n in nodes if n.get("Alive", True)]
    return (max(cpus, default=0.0), max(gpus, default=0.0))


def trial_resources(cluster: dict, gpus_per_trial: float | None, cpus_per_trial: float = 1,
                    node_max: tuple[float, float] | None = None) -> TrialResources:
    """Resources of one trial, checked against the cluster (``ray.cluster_resources()``).

    ``gpus_per_trial=None``: one GPU per trial when the cluster has GPUs, else CPU only. An explicit
    ``gpus_per_trial > 0`` on a cluster without enough GPUs raises ``InvalidInputException`` instead of
    letting Tune wait forever (only an autoscaling cluster could ever satisfy it; we do not autoscale).
    Fractions (0.5) pack several trials on one GPU; Ray gives no memory isolation, the trial caps itself.
    """
    total_cpu = float(cluster.get("CPU", 0.0))
    total_gpu = float(cluster.get("GPU", 0.0))
    node_cpu, node_gpu = node_max if node_max is not None else (total_cpu, total_gpu)
    if cpus_per_trial is None or not math.isfinite(cpus_per_trial) or cpus_per_trial <= 0:
        raise InvalidInputException(f"cpus_per_trial must be positive, got {cpus_per_trial!r}.")
    if cpus_per_trial > node_cpu:
        raise InvalidInputException(
            f"Each trial asks for {cpus_per_trial:g} CPUs but the largest Ray node has {node_cpu:g} "
            f"(cluster total {total_cpu:g}); the trials could never start. Lower cpus_per_trial.")
    if gpus_per_trial is None:
        return TrialResources(cpu=cpus_per_trial, gpu=1.0 if total_gpu >= 1 else 0.0)
    if not math.isfinite(gpus_per_trial) or gpus_per_trial < 0:  # NaN compares false and Tune waits forever
        raise InvalidInputException(f"gpus_per_trial must be a finite number >= 0, got {gpus_per_trial!r}.")
    if gpus_per_trial > 1 and gpus_per_trial != int(gpus_per_trial):
        raise InvalidInputException(f"gpus_per_trial above 1 must be a whole number, got {gpus_per_trial!r}.")
    if gpus_per_trial > 0 and node_gpu < gpus_per_trial:
        where = "has no GPUs" if total_gpu == 0 else f"has at most {node_gpu:g} GPUs on one node"
        raise InvalidInputException(
            f"gpus_per_trial={gpus_per_trial:g} was asked for but the Ray cluster {where} "
            f"(cluster resources: {total_cpu:g} CPUs, {total_gpu:g} GPUs); the trials would wait forever. "
            "Run on a GPU cluster, or pass gpus_per_trial=0 (or leave it unset) to train on CPU.")
    return TrialResources(cpu=cpus_per_trial, gpu=float(gpus_per_trial))


def cluster_trial_resources(gpus_per_trial: float | None, cpus_per_trial: float = 1) -> TrialResources:
    import ray

    return trial_resources(ray.cluster_resources(), gpus_per_trial, cpus_per_trial, largest_node(ray.nodes()))


# --- finding and stopping the processes of one Ray instance --------------------------------------------------
# `ray stop` kills every Ray process on the machine, including other users' clusters. These helpers find the
# processes of *one* instance by its temp dir: in the command line (gcs_server, raylet, log monitors), or
# among the files the process has open (every Ray process writes its logs under <temp dir>/session_*; workers
# and agents rename themselves "ray::..." so their command lines no longer say where they belong), or by an
# environment marker the starter set (inherited by what the raylet forks).


def ray_processes(temp_dir: str | None = None, env_marker: str | None = None) -> list[int]:
    """PIDs (other than this process) whose cmdline names ``temp_dir``, that hold a file open under it, or
    whose environ has ``env_marker`` (a ``NAME=value`` string)."""
    me = os.getpid()
    found = []
    root = os.path.realpath(temp_dir) if temp_dir else None
    needle = root.encode() if root else None
    marker = env_marker.encode() if env_marker else None
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            hit = False
            if needle is not None:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    hit = needle in f.read()
                if not hit:
                    hit = _holds_file_under(entry, root)
            if not hit and marker is not None:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    hit = marker in f.read().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if hit:
            found.append(int(entry))
    return found


def _holds_file_under(pid: str, root: str) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target == root or target.startswith(root + "/"):
            return True
    return False


def kill_processes(pids: list[int], timeout: float = 10.0) -> list[int]:
    """SIGTERM, then SIGKILL what is left after ``timeout``/2; returns the PIDs still alive at the end."""
    import signal
    import time

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split(") ", 1)[1][0] != "Z"
        except OSError:
            return False

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + timeout / 2
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.1)
        pids = [p for p in pids if alive(p)]
        if not pids:
            break
    return pids

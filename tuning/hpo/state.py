"""The experiment's own record, in JSON: what each trial is, how far it got, where its checkpoint is.

Why: resuming from Tune's saved experiment (``Tuner.restore``) unpickles ``tuner.pkl``, the searcher's
state and trial objects from storage, and a workspace or ``--storage`` bucket that others can write to
would then run their code. This record is plain data, checked on every read, and is enough to rebuild
the experiment: finished trials keep their results, unfinished ones restart from their last checkpoint
(``checkpoint.pt``, loaded weights-only, and ``trial_state.json``), and the searcher recomputes its
suggestions from the finished results (:mod:`.search`), so nothing written by Tune is read back.

The file is ``<storage>/<name>/hrnn_hpo_state.json``; every Tune run of the experiment (the first and each
resume) is its own directory ``attempt-<k>`` beside it, so a resumed run never reuses Tune's files.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field

from hrnn.errors import InvalidInputException

from ..request import HPOConfig
from ..files import strict_json
from .fingerprint import filesystem
from .stopping import check_stop

STATE_NAME = "hrnn_hpo_state.json"
FORMAT = 1
PENDING, RUNNING, TERMINATED, ERROR = "PENDING", "RUNNING", "TERMINATED", "ERROR"
FINISHED = (TERMINATED, ERROR)
CHECKPOINT_PATH = re.compile(r"attempt-\d{1,6}/trial_\d{3}/checkpoint_\d{6}")
MAX_STATE_BYTES = 64 * 1024 * 1024


def trial_name(index: int) -> str:
    return f"trial_{index:03d}"


@dataclass
class TrialState:
    index: int
    params: dict  # the searched hyperparameters, typed (int, float, bool, str), by plain name
    status: str = PENDING
    checkpoint: str | None = None  # the latest checkpoint, relative to the experiment directory
    last: dict = field(default_factory=dict)  # the last result the trial reported (JSON numbers and strings)
    history: list = field(default_factory=list)  # one entry per report
    error: str | None = None
    stopped: dict | None = None  # early stopping's decision (:func:`.stopping.decide`), None: not stopped

    @property
    def trial_id(self) -> str:
        return trial_name(self.index)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass
class ExperimentState:
    fingerprint: str
    attempts: int = 0
    trials: list[TrialState] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "fingerprint": self.fingerprint, "attempts": self.attempts,
                           "trials": [asdict(t) for t in self.trials]}, indent=1, allow_nan=False)


def _damaged(path: str, detail: str) -> InvalidInputException:
    return InvalidInputException(
        f"The HPO state {path} is damaged ({detail}); it was not written by this program. Remove the "
        "experiment directory to start the search over.")


def _finite_json(value, path: str, depth: int = 0):
    """A JSON value of numbers, strings, booleans, null, lists and objects, nothing non-finite."""
    if depth > 8:
        raise _damaged(path, "nested too deeply")
    if isinstance(value, float) and not math.isfinite(value):
        raise _damaged(path, "a number is not finite")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite_json(v, path, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _finite_json(v, path, depth + 1)
    return value


def _check_params(params: object, hpo: HPOConfig, path: str) -> dict:
    ranges = {r.hp.name: r for r in hpo.ranges}
    if not isinstance(params, dict) or set(params) != set(ranges):
        raise _damaged(path, f"a trial's parameters are not the request's ranges {sorted(ranges)}")
    checked = {}
    for name, value in params.items():
        r = ranges[name]
        try:
            value = r.hp.check(value)
        except ValueError as exc:
            raise _damaged(path, f"{name}={value!r}: {exc}") from None
        inside = value in r.values if r.values else r.min_value <= value <= r.max_value
        if not inside:
            raise _damaged(path, f"{name}={value!r} is outside the request's range")
        checked[name] = value
    return checked


def _trial(raw: object, index: int, hpo: HPOConfig, path: str) -> TrialState:
    if not isinstance(raw, dict) or raw.get("index") != index:
        raise _damaged(path, f"trial {index} is missing or out of order")
    status, checkpoint, error = raw.get("status"), raw.get("checkpoint"), raw.get("error")
    if status not in (PENDING, RUNNING, TERMINATED, ERROR):
        raise _damaged(path, f"trial {index} has status {status!r}")
    if checkpoint is not None and not (isinstance(checkpoint, str) and CHECKPOINT_PATH.fullmatch(checkpoint)):
        raise _damaged(path, f"trial {index} names checkpoint {str(checkpoint)[:80]!r}")
    last, history = raw.get("last") or {}, raw.get("history") or []
    if not isinstance(last, dict) or not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise _damaged(path, f"trial {index} has malformed results")
    if error is not None and not isinstance(error, str):
        raise _damaged(path, f"trial {index} has a malformed error")
    if not check_stop(raw.get("stopped")):
        raise _damaged(path, f"trial {index} has a malformed early-stopping decision")
    return TrialState(index=index, params=_check_params(raw.get("params"), hpo, path), status=status,
                      checkpoint=checkpoint, last=_finite_json(last, path), history=_finite_json(history, path),
                      error=error, stopped=raw.get("stopped"))


def parse_state(text: str, hpo: HPOConfig, path: str) -> ExperimentState:
    """The state file's text, checked: trials in order, parameters inside the request's ranges, checkpoint
    paths of the shape this program writes (never outside the experiment directory)."""
    try:
        raw = strict_json(text)
    except (ValueError, RecursionError) as exc:
        raise _damaged(path, f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or not isinstance(raw.get("fingerprint"), str):
        raise _damaged(path, "not a state of this format")
    attempts, trials = raw.get("attempts"), raw.get("trials")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 0 <= attempts < 10**6:
        raise _damaged(path, "attempts")
    if not isinstance(trials, list) or len(trials) > hpo.max_number_of_training_jobs:
        raise _damaged(path, "more trials than the request allows")
    return ExperimentState(fingerprint=raw["fingerprint"], attempts=attempts,
                           trials=[_trial(t, i, hpo, path) for i, t in enumerate(trials)])


class StateFile:
    """Reads and writes the state on the experiment's filesystem (local, or a pyarrow URI)."""

    def __init__(self, experiment_path: str, storage_filesystem=None):
        self.fs, self.dir = filesystem(experiment_path, storage_filesystem)
        self.path = f"{self.dir}/{STATE_NAME}"
        self.display = f"{experiment_path}/{STATE_NAME}"

    def exists(self) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self.path).type != pafs.FileType.NotFound

    def read(self, hpo: HPOConfig) -> ExperimentState:
        import pyarrow.fs as pafs

        info = self.fs.get_file_info(self.path)
        if info.type != pafs.FileType.File or (info.size or 0) > MAX_STATE_BYTES:
            raise _damaged(self.display, "not a regular file of a sensible size")
        with self.fs.open_input_stream(self.path) as f:
            data = f.read(MAX_STATE_BYTES + 1)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _damaged(self.display, "not UTF-8") from None
        return parse_state(text, hpo, self.display)

    def write(self, state: ExperimentState) -> None:
        """Atomically on a local filesystem (write beside, then rename); a single put elsewhere."""
        import pyarrow.fs as pafs

        data = state.to_json().encode()
        self.fs.create_dir(self.dir, recursive=True)
        if isinstance(self.fs, pafs.LocalFileSystem):
            from hrnn.atomic import atomic_path

            with atomic_path(self.path) as tmp, open(tmp, "wb") as out:
                out.write(data)
            return
        with self.fs.open_output_stream(self.path) as out:
            out.write(data)

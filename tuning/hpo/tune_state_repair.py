"""Repairs of Ray Tune's saved experiment state, isolated because they read Tune's private files.

Written against Ray 2.60 (``experiment_state-*.json`` with ``trial_data`` pairs of trial and runtime JSON;
checkpoint directories named ``checkpoint_NNNNNN``). Everything here is best effort: anything unexpected
leaves the experiment as it is and Tune reports what it cannot restore.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil

from .fingerprint import filesystem


def repair_checkpoints(experiment_path: str, storage_filesystem) -> list[str]:
    """Make every unfinished trial's recorded checkpoint exist again before ``Tuner.restore``.

    Why: with ``CheckpointConfig(num_to_keep=1)`` Tune deletes a trial's previous checkpoint as soon as it
    registers the new one, and saves the experiment state (which names the checkpoint to resume from) a
    moment later, asynchronously. A driver killed in between leaves a state that names a deleted
    checkpoint, and ``Tuner.restore`` then fails that trial for good ("Could not recover from checkpoint as
    it does not exist on storage anymore"); this was reproduced by SIGKILLing the driver right after a
    checkpoint appeared. The trial's newer checkpoint is still there, so we put it in place of the missing
    one (hard links on a local filesystem, a copy elsewhere). The trial reads its epoch from the
    checkpoint's own ``trial_state.json``, so it resumes from the newer epoch and nothing is trained twice.

    Best effort: reads the newest ``experiment_state-*.json`` (plain JSON: trial id, status and the last
    processed result's ``checkpoint_dir_name``); anything unexpected leaves the experiment as it is.
    Returns the checkpoint paths it recreated.
    """
    import pyarrow.fs as pafs

    repaired: list[str] = []
    try:
        fs, root = filesystem(experiment_path, storage_filesystem)
        states = sorted(i.path for i in fs.get_file_info(pafs.FileSelector(root))
                        if i.type == pafs.FileType.File and os.path.basename(i.path).startswith("experiment_state-")
                        and i.path.endswith(".json"))
        if not states:
            return repaired
        with fs.open_input_stream(states[-1]) as f:
            state = json.loads(f.read().decode())
        for trial_json, runtime_json in state.get("trial_data", []):
            trial, runtime = json.loads(trial_json), json.loads(runtime_json)
            if trial.get("status") == "TERMINATED":
                continue
            wanted = ((runtime.get("last_result") or {}).get("checkpoint_dir_name"))
            trial_dir = f"{root}/{trial.get('relative_logdir') or trial.get('trial_id')}"
            if not wanted or not re.fullmatch(r"checkpoint_\d+", wanted):
                continue
            target = f"{trial_dir}/{wanted}"
            if fs.get_file_info(target).type != pafs.FileType.NotFound:
                continue
            newer = sorted(os.path.basename(i.path) for i in fs.get_file_info(pafs.FileSelector(trial_dir))
                           if i.type == pafs.FileType.Directory
                           and re.fullmatch(r"checkpoint_\d+", os.path.basename(i.path))
                           and os.path.basename(i.path) > wanted)
            if not newer:
                continue
            source = f"{trial_dir}/{newer[-1]}"
            if isinstance(fs, pafs.LocalFileSystem):
                _link_tree(source, target)
            else:
                pafs.copy_files(source, target, source_filesystem=fs, destination_filesystem=fs)
            repaired.append(target)
    except Exception as exc:  # noqa: BLE001 - best effort; Tune reports what it cannot restore
        logging.getLogger(__name__).warning("checkpoint repair skipped: %s", exc)
    return repaired


def prune_stale_checkpoints(result) -> None:
    """Delete a finished trial's checkpoint directories other than its final one (left by a resume repair
    or by workers that outlived a killed driver)."""
    import pyarrow.fs as pafs

    if result.checkpoint is None:
        return
    try:
        fs = result.checkpoint.filesystem
        keep = result.checkpoint.path.rstrip("/")
        trial_dir = os.path.dirname(keep)
        for info in fs.get_file_info(pafs.FileSelector(trial_dir)):
            name = os.path.basename(info.path)
            if (info.type == pafs.FileType.Directory and re.fullmatch(r"checkpoint_\d+", name)
                    and info.path.rstrip("/") != keep):
                fs.delete_dir(info.path)
    except Exception as exc:  # noqa: BLE001 - tidying only
        logging.getLogger(__name__).warning("could not prune old checkpoints of %s: %s", result.path, exc)


def _link_tree(source: str, target: str) -> None:
    tmp = f"{target}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, tmp, copy_function=link)

"""A trained model as a directory, and recommendations from it.

Layout (every file written atomically)::

    model.json        model config, training settings, hyperparameters (wire strings), counts
    weights.pt        state dict (loaded with ``weights_only=True``)
    items.arrow       item_id, training interaction count (the popularity fallback)
    users.arrow       user_id of every known user
    user_states.pt    each known user's session state after their whole history, their user-level state,
                      the state their next session would start from, and the time of their last interaction

Recommendations are the top ``numResults`` items by softmax score over all items, like the service's
GetRecommendations. A request within the session timeout of the user's last interaction continues that
session; a later one (the usual case for a returning user) is scored from the user's next-session start
state. A user the model has never seen gets the most popular items instead of an error.

Live sessions (:mod:`hrnn.serving`): :meth:`LoadedModel.states` gives users' stored states,
:meth:`LoadedModel.advance` moves them on by new events, :meth:`LoadedModel.recommend_states` recommends
from them. Format 1 directories (before the user-level state was stored) load and recommend as before, but
cannot advance a user: :meth:`LoadedModel.states` says so (train the solution version again to get format 2).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from .atomic import atomic_path, atomic_write_json
from .data import InteractionData, read_ipc, write_ipc
from .errors import InvalidInputException, ResourceNotFoundException
from .evaluation import HRNNScorer
from .model import HRNN, ModelConfig
from .ranking import top_indices
from .serving import UserStates, advance, query_states
from .training import atomic_torch_save

MAX_RESULTS = 500
DEFAULT_RESULTS = 25
RECOMMEND_CHUNK = 256  # users scored at once
FORMAT_VERSION = 2  # 2: user_states.pt holds the user-level states (live sessions)
READABLE_FORMATS = (1, 2)


def save_model(directory: str | os.PathLike, model: HRNN, history: InteractionData, train: InteractionData,
               hyperparameters_wire: dict, settings: dict, *, session_timeout_seconds: float,
               device: torch.device | None = None) -> Path:
    """Write a model directory. ``history`` is every known user's full history (their state is stored);
    ``train`` gives the popularity fallback and the items the model may recommend."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    device = device or next(model.parameters()).device
    h_s, h_u, start = HRNNScorer(model, device).user_states(history)
    rows = torch.as_tensor(history.seq_users.astype(np.int64))
    user_states = torch.zeros(history.n_users, model.hidden)
    user_level = torch.zeros(history.n_users, model.hidden)
    start_states = torch.zeros(history.n_users, model.hidden)
    last_time = torch.zeros(history.n_users, dtype=torch.int64)
    user_states[rows] = h_s.cpu()
    user_level[rows] = h_u.cpu()
    start_states[rows] = start.cpu()
    last_time[rows] = torch.as_tensor(history.times[history.user_offsets[1:] - 1])
    known = np.zeros(history.n_users, dtype=bool)
    known[history.seq_users] = True
    counts = train.item_counts()
    atomic_torch_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, directory / "weights.pt")
    atomic_torch_save({"states": user_states, "user_level_states": user_level, "start_states": start_states,
                       "last_time": last_time, "known": torch.as_tensor(known)}, directory / "user_states.pt")
    with atomic_path(directory / "items.arrow") as tmp:
        write_ipc(tmp, {"item_id": history.item_ids, "count": counts})
    with atomic_path(directory / "users.arrow") as tmp:
        write_ipc(tmp, {"user_id": history.user_ids})
    atomic_write_json(directory / "model.json", {
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "hyperparameters": hyperparameters_wire,
        "training": settings,
        "n_items": history.n_items,
        "n_users": int(known.sum()),
        "session_timeout_seconds": session_timeout_seconds,
    })
    return directory


def check_num_results(num_results: object) -> None:
    """numResults as GetRecommendations accepts it: an integer from 1 to 500."""
    if isinstance(num_results, bool) or not isinstance(num_results, int) or not 1 <= num_results <= MAX_RESULTS:
        raise InvalidInputException(f"numResults {num_results!r} is invalid; expected an integer from 1 to {MAX_RESULTS}.")


@dataclass
class LoadedModel:
    model: HRNN
    item_ids: pa.Array
    item_counts: np.ndarray
    user_ids: pa.Array
    user_states: torch.Tensor
    start_states: torch.Tensor
    last_time: torch.Tensor
    known: torch.Tensor
    info: dict
    user_level: torch.Tensor | None = None  # the user-level states (format 2; None in a format 1 directory)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "LoadedModel":
        """Read a model directory, checking every file against the others before trusting it.

        A directory is data someone else may have written: a damaged or hostile one (truncated or pickled
        code in ``weights.pt``, ``model.json`` with unknown keys or absurd sizes, files that disagree)
        raises ``ResourceNotFoundException`` saying what is wrong, never a traceback, and nothing is
        allocated from a size it states before that size is checked against the files themselves.
        """
        directory = Path(directory)
        if not (directory / "model.json").exists():
            raise ResourceNotFoundException(f"No trained model in {str(directory)!r} (model.json is missing).")
        info = _read_model_json(directory)
        items = _read_table(directory, "items.arrow", {"item_id": pa.types.is_string, "count": pa.types.is_integer})
        users = _read_table(directory, "users.arrow", {"user_id": pa.types.is_string})
        if info["n_items"] != items.num_rows:
            raise _damaged(directory, f"model.json says {info['n_items']} items, items.arrow has {items.num_rows}")
        config = ModelConfig(**info["model"])
        if config.n_items != items.num_rows:
            raise _damaged(directory, "model.json's model.n_items disagrees with items.arrow")
        model = _load_weights(directory, config)
        states = _load_user_states(directory, users.num_rows, config.hidden_dimension, info["format_version"])
        counts = items.column("count").to_numpy().copy()
        if (counts < 0).any():
            raise _damaged(directory, "items.arrow has negative counts")
        return cls(
            model=model,
            item_ids=items.column("item_id").combine_chunks(),
            item_counts=counts,
            user_ids=users.column("user_id").combine_chunks(),
            user_states=states["states"],
            start_states=states["start_states"],
            last_time=states["last_time"],
            known=states["known"],
            info=info,
            user_level=states.get("user_level_states"),
        )

    def _user_lookup(self) -> dict[str, int]:
        if not hasattr(self, "_lookup"):
            self._lookup = {uid: i for i, uid in enumerate(self.user_ids.to_pylist())}
        return self._lookup

    @torch.no_grad()
    def recommend(self, user_ids: list[str], num_results: int = DEFAULT_RESULTS,
                  at_time: float | None = None, masks: torch.Tensor | None = None) -> list[dict]:
        """GetRecommendations for several users at ``at_time`` (epoch seconds, default now):
        ``{"itemList": [{"itemId", "score"}, ...]}`` each. ``masks`` ([users, items], True = may be
        recommended), when given, keeps each user's list to the allowed items (scores stay each item's
        probability over all trained items; a list is shorter when fewer items are allowed).

        Users are scored in chunks: one multiply gives every item's logit (untrained items get a bias of
        -inf), :func:`hrnn.ranking.top_indices` picks the best (ties by lower item index), and a score is
        the item's softmax probability over the trained items, computed in place: no full sort, no second
        ``[chunk, n_items]`` tensor."""
        check_num_results(num_results)
        with _collector_paused():
            return self._recommend(user_ids, num_results, at_time, masks)

    def _recommend(self, user_ids: list[str], num_results: int, at_time: float | None, masks=None) -> list[dict]:
        index = self._user_rows(user_ids)
        rows = np.flatnonzero(index >= 0)
        users = torch.as_tensor(index[rows])
        now = time.time() if at_time is None else at_time
        returning = (now - self.last_time[users]) > self.info["session_timeout_seconds"]
        states = torch.where(returning.unsqueeze(1), self.start_states[users], self.user_states[users])
        return self._item_lists_for(len(user_ids), rows, states, num_results, masks)

    def _user_rows(self, user_ids: list[str]) -> np.ndarray:
        """Each user's row in this model's tables, or -1 for a user it has no state of."""
        lookup = self._user_lookup()
        index = np.fromiter((lookup.get(str(u), -1) for u in user_ids), dtype=np.int64, count=len(user_ids))
        return np.where((index >= 0) & self.known.numpy()[np.maximum(index, 0)], index, -1)

    def _item_lists_for(self, n: int, rows: np.ndarray, states: torch.Tensor, num_results: int,
                        masks: torch.Tensor | None = None) -> list[dict]:
        """``n`` answers: rows ``rows`` scored from ``states``, every other one the most popular items
        (with ``masks``, each only from its allowed items)."""
        k = min(num_results, int(np.count_nonzero(self.item_counts > 0)))
        out: list[dict] = [{} for _ in range(n)]
        if len(rows):
            allowed = None if masks is None else masks[torch.as_tensor(rows)]
            scores, items = self._score_top(states, k, allowed)
            for r, item_list in zip(rows, self._item_lists(items, scores)):
                out[r] = item_list
        if len(rows) < n:
            counts = torch.as_tensor(self.item_counts, dtype=torch.float64)
            popular_probs = (counts / counts.sum()).unsqueeze(0)
            others = np.ones(n, dtype=bool)
            others[rows] = False
            if masks is None:
                scores, items = _top(popular_probs, k)
                popular = self._item_lists(items, scores)[0]
                for r in np.flatnonzero(others):
                    out[r] = {"itemList": [dict(x) for x in popular["itemList"]]}
            else:
                for r in np.flatnonzero(others):
                    scores, items = _top(popular_probs.masked_fill(~masks[r:r + 1], -1.0), k)
                    out[r] = self._item_lists(items, np.where(scores < 0, -1.0, scores))[0]
        if masks is not None:  # fewer allowed items than asked for: the disallowed tail goes
            for item_list in out:
                item_list["itemList"] = [x for x in item_list["itemList"] if x["score"] >= 0]
        return out

    # ---- live sessions -----------------------------------------------------------------------------------
    def states(self, user_ids: list[str]) -> UserStates:
        """The stored states of these users, as :func:`advance` takes them; a user the model does not know
        starts as a new user (no history). A format 1 directory stores no user-level states: it cannot
        advance users, and says so."""
        if self.user_level is None:
            raise InvalidInputException(
                f"This model directory (format {self.info.get('format_version', 1)}) does not store the user-level "
                f"states that advancing a user's session needs; train the solution version again to get format "
                f"{FORMAT_VERSION}. It still recommends from the stored states.")
        index = self._user_rows(user_ids)
        known = torch.as_tensor(index >= 0)
        rows = torch.as_tensor(np.maximum(index, 0))
        zero = torch.zeros(())
        return UserStates(h_s=torch.where(known.unsqueeze(1), self.user_states[rows], zero),
                          h_u=torch.where(known.unsqueeze(1), self.user_level[rows], zero),
                          last_time=torch.where(known, self.last_time[rows], 0), has_history=known)

    def item_indices(self, item_ids: list[str]) -> np.ndarray:
        """Each item's index in this model, or -1 for an item it does not know."""
        if getattr(self, "_item_lookup", None) is None:
            self._item_lookup = {iid: i for i, iid in enumerate(self.item_ids.to_pylist())}
        lookup = self._item_lookup
        return np.fromiter((lookup.get(str(i), -1) for i in item_ids), dtype=np.int64, count=len(item_ids))

    def advance(self, states: UserStates, items, times) -> UserStates:
        """The states after one more event of each user (:func:`hrnn.serving.advance`): ``items`` item
        indices (:meth:`item_indices`; -1 leaves that user as they were), ``times`` epoch seconds."""
        return advance(self.model, states, items, times, self.info["session_timeout_seconds"])

    @torch.no_grad()
    def recommend_states(self, states: UserStates, num_results: int = DEFAULT_RESULTS,
                         at_time: float | None = None, masks: torch.Tensor | None = None) -> list[dict]:
        """GetRecommendations for users given by their live states, at ``at_time`` (default now): as
        :meth:`recommend` (the same scoring and top-k); a user without history gets the most popular items."""
        check_num_results(num_results)
        with _collector_paused():
            rows = np.flatnonzero(states.has_history.numpy())
            now = time.time() if at_time is None else at_time
            query = query_states(self.model, states.take(rows), now, self.info["session_timeout_seconds"])
            return self._item_lists_for(len(states), rows, query, num_results, masks)

    def _score_top(self, states: torch.Tensor, k: int,
                   allowed: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` items of each state and their softmax probabilities over the trained items (with
        ``allowed``, the top ``k`` allowed items; a pick that is not allowed, where fewer are, scores -1)."""
        model = self.model
        if getattr(self, "_masked_bias", None) is None:
            trained = torch.as_tensor(self.item_counts > 0)
            self._masked_bias = model.item_bias.detach().float().masked_fill(~trained, float("-inf"))
        scores, items = [], []
        # Small chunks keep the [chunk, n_items] logits in the cache for the passes over them; one buffer.
        buffer = states.new_empty(min(RECOMMEND_CHUNK, states.shape[0]), model.config.n_items, dtype=torch.float32)
        for lo in range(0, states.shape[0], RECOMMEND_CHUNK):
            chunk = states[lo:lo + RECOMMEND_CHUNK].float()
            logits = model.score(chunk, item_bias=self._masked_bias, out=buffer[:chunk.shape[0]])
            if allowed is None:
                top = top_indices(logits, k)
                probs = torch._softmax(logits, 1, False, out=logits)  # in place: no second [chunk, n_items] tensor
                scores.append(probs.gather(1, top).numpy())
            else:
                probs = torch._softmax(logits, 1, False, out=logits)
                picked = probs.masked_fill(~allowed[lo:lo + RECOMMEND_CHUNK], -1.0)
                top = top_indices(picked, k)
                scores.append(picked.gather(1, top).numpy())
            items.append(top.numpy())
        return np.concatenate(scores), np.concatenate(items)

    def _item_lists(self, items: np.ndarray, scores: np.ndarray) -> list[dict]:
        """``{"itemList": ...}`` per row, scores rounded to 7 decimals. For float32 scores numpy's rounding
        is Python's ``round(x, 7)`` (``x * 1e7`` is exact in float64), ten times faster."""
        if getattr(self, "_item_id_list", None) is None:
            self._item_id_list = self.item_ids.to_pylist()
        ids, k = self._item_id_list, items.shape[1]
        names = [ids[i] for i in items.reshape(-1).tolist()]
        if scores.dtype == np.float32:
            values = np.round(scores.astype(np.float64), 7).tolist()
        else:
            values = [[round(s, 7) for s in row] for row in scores.tolist()]
        return [{"itemList": [{"itemId": i, "score": s} for i, s in zip(names[j * k:(j + 1) * k], row)]}
                for j, row in enumerate(values)]


@contextlib.contextmanager
def _collector_paused():
    """Build many small acyclic objects without the cyclic collector: it would otherwise run every few
    hundred dicts and walk the young objects each time (more than half the time of writing the output)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _damaged(directory: Path, detail: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The model in {str(directory)!r} is damaged: {detail}.")


MAX_MODEL_JSON = 16 * 1024 * 1024
MODEL_KEYS = {"format_version", "model", "hyperparameters", "training", "n_items", "n_users", "session_timeout_seconds"}


def _read_model_json(directory: Path) -> dict:
    path = directory / "model.json"
    try:
        if not path.is_file() or path.stat().st_size > MAX_MODEL_JSON:
            raise _damaged(directory, "model.json is not a regular file of a sensible size")
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _damaged(directory, f"model.json cannot be read ({str(exc)[:200]})") from None
    if not isinstance(info, dict) or not MODEL_KEYS <= set(info) or info.get("format_version") not in READABLE_FORMATS:
        raise _damaged(directory, f"model.json must have the keys {sorted(MODEL_KEYS)} and a format_version of "
                                  f"{READABLE_FORMATS}")
    model = info["model"]
    expected = {f.name for f in fields(ModelConfig)}
    ok = (isinstance(model, dict) and set(model) == expected and _whole(model["n_items"], 1, 1 << 31)
          and _whole(model["hidden_dimension"], 1, 4096) and isinstance(model["hierarchical"], bool)
          and isinstance(model["dropout"], (int, float)) and 0.0 <= model["dropout"] < 1.0
          and _whole(info["n_items"], 1, 1 << 31) and _whole(info["n_users"], 0, 1 << 31))
    timeout = info["session_timeout_seconds"]
    if not ok or isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < 1e12:
        raise _damaged(directory, "model.json's model settings, counts or session timeout are out of range")
    return info


def _whole(value: object, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _read_table(directory: Path, name: str, columns: dict) -> pa.Table:
    try:
        table = read_ipc(directory / name)
    except (OSError, pa.ArrowException) as exc:
        raise _damaged(directory, f"{name} cannot be read ({str(exc)[:200]})") from None
    for column, is_type in columns.items():
        if column not in table.column_names or not is_type(table.schema.field(column).type):
            raise _damaged(directory, f"{name} has no {column} column of the right type")
    return table


def _load_weights(directory: Path, config: ModelConfig) -> HRNN:
    """The weights, checked against the shapes the config implies (computed on the meta device, so a
    config is checked without allocating what it states)."""
    with torch.device("meta"):
        expected = {k: (tuple(v.shape), v.dtype) for k, v in HRNN(config).state_dict().items()}
    budget = sum(torch.Size(shape).numel() * torch.empty(0, dtype=dtype).element_size()
                 for shape, dtype in expected.values())
    path = directory / "weights.pt"
    try:
        if path.stat().st_size > 2 * budget + (1 << 20):
            raise _damaged(directory, "weights.pt is larger than the model it should hold")
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except ResourceNotFoundException:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated, not a torch file, or pickled code that weights_only refused
        raise _damaged(directory, f"weights.pt cannot be loaded ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(weights, dict) or {k: (tuple(v.shape), v.dtype) for k, v in weights.items()
                                         if isinstance(v, torch.Tensor)} != expected or len(weights) != len(expected):
        raise _damaged(directory, "weights.pt does not hold the weights model.json describes")
    model = HRNN(config)
    model.load_state_dict(weights)
    model.eval()
    return model


def _load_user_states(directory: Path, n_users: int, hidden: int, format_version: int) -> dict:
    path = directory / "user_states.pt"
    try:
        if path.stat().st_size > 2 * n_users * (3 * hidden * 4 + 9) + (1 << 20):
            raise _damaged(directory, "user_states.pt is larger than the users it should hold")
        states = torch.load(path, map_location="cpu", weights_only=True)
    except ResourceNotFoundException:
        raise
    except Exception as exc:  # noqa: BLE001 - see _load_weights
        raise _damaged(directory, f"user_states.pt cannot be loaded ({type(exc).__name__}: {str(exc)[:200]})") from None
    shapes = {"states": ((n_users, hidden), torch.float32), "start_states": ((n_users, hidden), torch.float32),
              "last_time": ((n_users,), torch.int64), "known": ((n_users,), torch.bool)}
    if format_version >= 2:
        shapes["user_level_states"] = ((n_users, hidden), torch.float32)
    if not isinstance(states, dict) or not set(shapes) <= set(states) or any(
            not isinstance(states[k], torch.Tensor) or (tuple(states[k].shape), states[k].dtype) != v
            for k, v in shapes.items()):
        raise _damaged(directory, "user_states.pt does not match users.arrow and the model's size")
    return states


def _top(scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` scores of each row and their indices, best first, ties broken by lower item index."""
    top = top_indices(scores, k)
    return scores.gather(1, top).numpy(), top.numpy()

"""The reference a live session is checked against: what a model recommends from each user's whole history
(their earlier interactions plus the events sent since), computed by the evaluator's recurrence over the whole
sequence, with no live step involved."""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa
import torch

from hrnn.data import DataConfig, build_interactions
from hrnn.evaluation import HRNNScorer
from hrnn.serving import UserStates


def offline_recommendations(model, history: pa.Table, sent: dict[str, list[dict]], users: list[str],
                            k: int = 10, at_time: float | None = None) -> list[dict]:
    """``model`` a LoadedModel; ``history`` the users' earlier rows (USER_ID, ITEM_ID, TIMESTAMP[, ...]);
    ``sent`` each user's new events as rows of the same columns."""
    columns = ["USER_ID", "ITEM_ID", "TIMESTAMP"]
    history = history.select(columns).filter(pa.compute.is_in(history.column("USER_ID"), pa.array(users)))
    new = pa.Table.from_pylist([{c: r[c] for c in columns} for u in users for r in sent.get(u, [])],
                               schema=history.schema)
    table = pa.concat_tables([history, new])
    table = table.filter(pa.compute.is_in(table.column("ITEM_ID"), pa.array(model.item_ids.to_pylist())))
    whole = build_interactions(table, DataConfig(max_user_history_length_percentile=1.0, check_minimums=False))
    whole.items = model.item_indices(whole.item_ids.take(pa.array(whole.items)).to_pylist()).astype(np.int32)
    h_s, h_u, _ = HRNNScorer(model.model, torch.device("cpu")).user_states(whole)
    seq_of = {whole.user_ids[int(u)].as_py(): i for i, u in enumerate(whole.seq_users)}
    rows = torch.as_tensor([seq_of[u] for u in users])
    last = torch.as_tensor(whole.times[whole.user_offsets[1:] - 1])[rows]
    states = UserStates(h_s[rows], h_u[rows], last, torch.ones(len(users), dtype=torch.bool))
    return model.recommend_states(states, k, at_time=time.time() if at_time is None else at_time)


RECIPE = "arn:aws:personalize:::recipe/aws-hrnn"
TINY = {"hidden_dimension": "32", "bptt": "4", "epochs": "1", "batch_size": "16", "num_negatives": "32"}
SCHEMA = json.dumps({"type": "record", "name": "Interactions", "fields": [
    {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"}, {"name": "TIMESTAMP", "type": "long"},
    {"name": "EVENT_TYPE", "type": "string"}]})


def imported_solution(ops, history_csv, tags: list | None = None) -> tuple[str, str]:
    """A dataset group "shop" with ``history_csv`` imported as its Interactions and a solution on it (tiny
    settings): the set-up the live-session tests share. Returns the group's and the solution's ARNs."""
    ops("CreateSchema", name="events", schema=SCHEMA)
    group = ops("CreateDatasetGroup", name="shop", **({"tags": tags} if tags else {}))["datasetGroupArn"]
    dataset = ops("CreateDataset", name="events", schemaArn=ops.workspace.store.arn("schema", "events"),
                  datasetGroupArn=group, datasetType="Interactions")["datasetArn"]
    ops("CreateDatasetImportJob", jobName="history", datasetArn=dataset, dataSource={"dataLocation": str(history_csv)})
    solution = ops("CreateSolution", name="shop", recipeArn=RECIPE, datasetGroupArn=group,
                   solutionConfig={"algorithmHyperParameters": TINY})["solutionArn"]
    return group, solution

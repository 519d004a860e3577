"""Dataset import jobs: copy data into the workspace, as the service copies it into its own storage.

CreateDatasetImportJob records the job (``CREATE PENDING``) and hands it to the runner; the work
(:func:`run_import`) goes ``CREATE IN_PROGRESS`` -> ``ACTIVE`` or ``CREATE FAILED`` with a ``failureReason``.
An Interactions import is read and checked as training checks it (columns, values, timestamps that are
plausible epoch seconds), naming the caller's file and row, then written as the dataset's new data file: the
import alone (``importMode: FULL``) or the previous data plus the import (``INCREMENTAL``). Data files are
never changed after they are written, so a version training on one is not disturbed by a later import.
"""

from __future__ import annotations

import shutil
import sys

from hrnn.errors import InvalidInputException, ResourceInUseException

from .. import arns
from ..lifecycle import FINAL, PENDING
from ..locations import Location, parse, read_into
from .listing import list_records
from ..store import Record, Store
from .jobs import Job, start
from .recorded import recorded_kind, resume_recorded, run_recorded
from .tags import tagged

MEMBER = "dataSource.dataLocation"
_SUMMARY = ("datasetImportJobArn", "jobName", "status", "creationDateTime", "lastUpdatedDateTime",
            "failureReason", "importMode")


def create_dataset_import_job(ctx, request: dict) -> dict:
    store = ctx.store
    dataset = store.find(arns.DATASET, request["datasetArn"])
    location = parse(request["dataSource"]["dataLocation"], MEMBER, ctx.access)
    name = request["jobName"]
    if not store.exists(arns.IMPORT_JOB, name):
        busy = [r.arn for r in store.all(arns.IMPORT_JOB)
                if r.public["datasetArn"] == dataset.arn and r.status not in FINAL]
        if busy:
            raise ResourceInUseException(f"Dataset {dataset.arn} has an import in progress: {busy[0]}.")
    public = {"jobName": name, "datasetImportJobArn": store.arn(arns.IMPORT_JOB, name), "datasetArn": dataset.arn,
              # The model allows only s3:// (and http) locations in a response: a local path is not echoed.
              "dataSource": {"dataLocation": location.given} if location.scheme == "s3" else {},
              "status": PENDING, "importMode": request.get("importMode") or "FULL",
              **{k: request[k] for k in ("publishAttributionMetricsToS3",) if k in request}}
    record, created = store.create(arns.IMPORT_JOB, name, public, request, source=location.to_list(),
                                   **tagged(request))
    response = {"datasetImportJobArn": record.arn}
    return start(ctx, Job(arns.IMPORT_JOB, record.name), response) if created else response


def describe_dataset_import_job(ctx, request: dict) -> dict:
    return {"datasetImportJob": ctx.store.find(arns.IMPORT_JOB, request["datasetImportJobArn"]).public}


def list_dataset_import_jobs(ctx, request: dict) -> dict:
    return list_records(ctx, request, arns.IMPORT_JOB, "datasetImportJobs", _SUMMARY,
                        parent=("datasetArn", arns.DATASET))


def run_import(ctx, name: str) -> None:
    store = ctx.store

    def work(record: Record, staging) -> None:
        dataset = store.find(arns.DATASET, record.public["datasetArn"])
        location = Location(*record.private["source"])
        copies = read_into(location, MEMBER, ctx.access, staging)
        data = _write_data(store, dataset, name, copies, record.public["importMode"], location)
        store.update(dataset, private={"data": data})

    run_recorded(ctx, arns.IMPORT_JOB, name, work)


JOB_KIND = recorded_kind(arns.IMPORT_JOB, run_import, "import")


def _checked_table(path, shown: str):
    """The file as training reads it, its timestamps checked; messages name ``shown``, not the staged copy."""
    import numpy as np

    from hrnn.data.ingest import check_timestamps
    from hrnn.data.interactions import read_interactions

    try:
        table = read_interactions(path)
        check_timestamps(np.asarray(table.column("TIMESTAMP").to_numpy(), dtype=np.int64), str(path))
    except InvalidInputException as exc:
        raise InvalidInputException(exc.message.replace(str(path), shown)) from None
    return table


def _write_data(store: Store, dataset: Record, job: str, copies: list, mode: str, location: Location) -> str:
    """The dataset's new data file (Parquet for Interactions; the copied files otherwise)."""
    target = store.data_dir(dataset.name)
    target.mkdir(parents=True, exist_ok=True)
    if dataset.public["datasetType"] != "INTERACTIONS":
        folder = target / job
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(copies[0].parent, folder)
        return str(folder)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hrnn.atomic import atomic_path

    shown = location.given if len(copies) == 1 else f"{location.given.rstrip('/')}/{{name}}"
    tables = [_checked_table(path, shown.replace("{name}", path.name)) for path in copies]
    previous = dataset.private.get("data")
    if mode == "INCREMENTAL" and previous:
        tables.insert(0, _checked_table(previous, previous))
    table = pa.concat_tables(tables, promote_options="default")
    path = target / f"{job}.parquet"
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    sys.stderr.write(f"imported {table.num_rows:,} interactions into {path}\n")
    return str(path)


def resume(ctx) -> None:
    """Adopt or run again the unfinished imports (a copy is idempotent)."""
    resume_recorded(ctx, arns.IMPORT_JOB)

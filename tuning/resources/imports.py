"""Dataset import jobs: copy data into the workspace, as the service copies it into its own storage.

CreateDatasetImportJob records the job (``CREATE PENDING``) and hands it to the job runner; the job
(:func:`run_import_job`, in its own process) goes ``CREATE IN_PROGRESS`` -> ``ACTIVE`` or ``CREATE FAILED``
with a ``failureReason``. An Interactions import is read and checked as training reads it
(:func:`hrnn.data.interactions.read_interactions`), then written as the dataset's new data file: the import alone
(``importMode: FULL``) or the previous data plus the import (``INCREMENTAL``). Data files are never changed
after they are written, so a solution version training on one is not disturbed by a later import.
"""

from __future__ import annotations

import shutil
import sys

from hrnn.errors import ResourceInUseException

from . import arns
from .jobs import FINAL, PENDING, recorded_job, resume_recorded, run_recorded
from .locations import Location, copy_in, parse_location
from .paging import page
from .store import Record, Store

WHAT = "import"
_SUMMARY = ("datasetImportJobArn", "jobName", "status", "creationDateTime", "lastUpdatedDateTime",
            "failureReason", "importMode")


def create_dataset_import_job(service, request: dict) -> dict:
    dataset = service.store.find(arns.DATASET, request["datasetArn"])
    location = parse_location(request["dataSource"]["dataLocation"], "dataSource.dataLocation", service.data_roots,
                              service.workspace.root)
    name = request["jobName"]
    if not service.store.file(arns.IMPORT_JOB, name).exists():
        busy = [r.arn for r in service.store.all(arns.IMPORT_JOB)
                if r.public["datasetArn"] == dataset.arn and r.public["status"] not in FINAL]
        if busy:
            raise ResourceInUseException(f"Dataset {dataset.arn} has an import in progress: {busy[0]}.")
    public = {"jobName": name, "datasetImportJobArn": arns.arn(arns.IMPORT_JOB, name), "datasetArn": dataset.arn,
              "dataSource": {"dataLocation": location.given}, "status": PENDING,
              "importMode": request.get("importMode") or "FULL",
              **{k: request[k] for k in ("publishAttributionMetricsToS3",) if k in request}}
    # roleArn is not echoed: the model types it as a Personalize ARN in the output (an IAM one in the input).
    record, created = service.store.create(arns.IMPORT_JOB, name, public, request,
                                           source=[location.scheme, location.path, location.given])
    if created:
        service.jobs.submit(recorded_job(service, arns.IMPORT_JOB, record.name, WHAT))
    return {"datasetImportJobArn": record.arn}


def describe_dataset_import_job(service, request: dict) -> dict:
    record = service.store.find(arns.IMPORT_JOB, request["datasetImportJobArn"])
    return {"datasetImportJob": record.public}


def list_dataset_import_jobs(service, request: dict) -> dict:
    records = service.store.all(arns.IMPORT_JOB)
    if request.get("datasetArn"):
        dataset = service.store.find(arns.DATASET, request["datasetArn"])
        records = [r for r in records if r.public["datasetArn"] == dataset.arn]
    summaries = [{k: r.public[k] for k in _SUMMARY if k in r.public} for r in records]
    return page(summaries, request, "datasetImportJobs")


# ---- the job (runs in its own process) ---------------------------------------------------------------

def run_import_job(service, name: str) -> None:
    store = service.store

    def work(record, staging) -> None:
        dataset = store.find(arns.DATASET, record.public["datasetArn"])
        copies = copy_in(Location(*record.private["source"]), staging)
        data = _write_data(store, dataset, name, copies, record.public["importMode"])
        store.update(dataset, private={"data": data})

    run_recorded(store, arns.IMPORT_JOB, name, work)


def _write_data(store: Store, dataset: Record, job: str, copies: list, mode: str) -> str:
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
    from hrnn.data.interactions import read_interactions

    tables = [read_interactions(path) for path in copies]
    previous = dataset.private.get("data")
    if mode == "INCREMENTAL" and previous:
        tables.insert(0, read_interactions(previous))
    table = pa.concat_tables(tables, promote_options="default")
    path = target / f"{job}.parquet"
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    sys.stderr.write(f"imported {table.num_rows:,} interactions into {path}\n")
    return str(path)


def resume(service) -> None:
    """Adopt or run again the unfinished imports (a copy is idempotent)."""
    resume_recorded(service, arns.IMPORT_JOB, WHAT)

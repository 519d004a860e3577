"""Batch inference jobs: JSON lines of users in, ``<input name>.out`` with their recommendations out.

CreateBatchInferenceJob records the job (``CREATE PENDING``) and hands it to the job runner; the job
(:func:`run_batch_job`, in its own process) copies the input in, scores it with the CLI's batch code
(:func:`tuning.batch.run_batch`) and writes the output into the ``jobOutput`` folder, as the service does.
"""

from __future__ import annotations

import os
import shutil
import traceback

from hrnn.artifact import DEFAULT_RESULTS, check_num_results
from hrnn.errors import InvalidInputException, ServiceError

from .. import operations
from . import arns
from .jobs import Job, fail_unfinished
from .locations import Location, copy_in, copy_out, parse_location
from .paging import page
from .store import Record

PENDING, IN_PROGRESS, ACTIVE, FAILED = "CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE", "CREATE FAILED"
FINAL = (ACTIVE, FAILED)
MODE = "BATCH_INFERENCE"
_SUMMARY = ("batchInferenceJobArn", "jobName", "status", "creationDateTime", "lastUpdatedDateTime", "failureReason",
            "solutionVersionArn", "batchInferenceJobMode")


def create_batch_inference_job(service, request: dict) -> dict:
    if request.get("batchInferenceJobMode", MODE) != MODE:
        raise InvalidInputException(f"batchInferenceJobMode {request['batchInferenceJobMode']!r} is not supported; "
                                    f"expected {MODE}.")
    for member in ("filterArn", "themeGenerationConfig"):
        if request.get(member):
            raise InvalidInputException(f"{member} is not supported by aws-hrnn; omit it.")
    operations.active_version(service.workspace, request["solutionVersionArn"])
    num_results = request.get("numResults", DEFAULT_RESULTS)
    check_num_results(num_results)
    source = parse_location(request["jobInput"]["s3DataSource"]["path"], "jobInput.s3DataSource.path",
                            service.data_roots, service.workspace.root)
    target = parse_location(request["jobOutput"]["s3DataDestination"]["path"], "jobOutput.s3DataDestination.path",
                            service.data_roots, service.workspace.root)
    name = request["jobName"]
    public = {"jobName": name, "batchInferenceJobArn": arns.arn(arns.BATCH_JOB, name),
              "solutionVersionArn": request["solutionVersionArn"], "numResults": num_results,
              "jobInput": request["jobInput"], "jobOutput": request["jobOutput"], "roleArn": request["roleArn"],
              "batchInferenceJobMode": MODE, "status": PENDING,
              **({"batchInferenceJobConfig": request["batchInferenceJobConfig"]}
                 if request.get("batchInferenceJobConfig") else {})}
    record, created = service.store.create(arns.BATCH_JOB, name, public, request,
                                           source=[source.scheme, source.path, source.given],
                                           target=[target.scheme, target.path, target.given])
    if created:
        service.jobs.submit(_job(service, record))
    return {"batchInferenceJobArn": record.arn}


def describe_batch_inference_job(service, request: dict) -> dict:
    return {"batchInferenceJob": service.store.find(arns.BATCH_JOB, request["batchInferenceJobArn"]).public}


def list_batch_inference_jobs(service, request: dict) -> dict:
    records = service.store.all(arns.BATCH_JOB)
    if request.get("solutionVersionArn"):
        records = [r for r in records if r.public["solutionVersionArn"] == request["solutionVersionArn"]]
    return page([{k: r.public[k] for k in _SUMMARY if k in r.public} for r in records], request,
                "batchInferenceJobs")


def _job(service, record: Record, pid: int | None = None) -> Job:
    finish = fail_unfinished(service.store, arns.BATCH_JOB, record.name, FINAL, FAILED, "batch inference")
    return Job(arns.BATCH_JOB, record.name, finish, pid=pid)


def resume(service) -> None:
    """After a restart: adopt a job whose process still runs; run again one whose process is gone."""
    for record in service.store.all(arns.BATCH_JOB):
        if record.public["status"] not in FINAL:
            service.jobs.submit(_job(service, record, record.private.get("pid")))


# ---- the job (runs in its own process) -----------------------------------------------------------------

def run_batch_job(service, name: str) -> None:
    from ..batch import run_batch

    store = service.store
    record = store.update(store.get(arns.BATCH_JOB, name), {"status": IN_PROGRESS}, {"pid": os.getpid()},
                          drop=("failureReason",))
    staging = store.staging(arns.BATCH_JOB, name)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        model = operations.load_model(service.workspace, record.public["solutionVersionArn"])
        target = Location(*record.private["target"])
        for source in copy_in(Location(*record.private["source"]), staging / "input"):
            output = staging / "output" / f"{source.name}.out"
            output.parent.mkdir(parents=True, exist_ok=True)
            summary = run_batch(model, source, output, record.public["numResults"])
            print(f"{source.name}: {summary['records']} records, {summary['errors']} errors -> "
                  f"{copy_out(output, target)}", flush=True)
        store.update(record, {"status": ACTIVE})
    except ServiceError as exc:
        store.update(record, {"status": FAILED, "failureReason": exc.message})
    except Exception as exc:
        traceback.print_exc()
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        store.update(record, {"status": FAILED, "failureReason": f"Internal error: {detail}"})
    finally:
        shutil.rmtree(staging, ignore_errors=True)

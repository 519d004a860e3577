"""Batch inference jobs: JSON lines of users in, ``<input name>.out`` with their recommendations out.

CreateBatchInferenceJob records the job (``CREATE PENDING``) and hands it to the job runner; the job
(:func:`run_batch_job`, in its own process) copies the input in, scores it with the CLI's batch code
(:func:`tuning.batch.run_batch`) and writes the output into the ``jobOutput`` folder, as the service does.
"""

from __future__ import annotations


from hrnn.artifact import DEFAULT_RESULTS, check_num_results
from hrnn.errors import InvalidInputException

from .. import operations
from . import arns
from .jobs import PENDING, recorded_job, resume_recorded, run_recorded
from .locations import Location, copy_in, copy_out, parse_location
from .paging import page

MODE = "BATCH_INFERENCE"
WHAT = "batch inference"
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
        service.jobs.submit(recorded_job(service, arns.BATCH_JOB, record.name, WHAT))
    return {"batchInferenceJobArn": record.arn}


def describe_batch_inference_job(service, request: dict) -> dict:
    return {"batchInferenceJob": service.store.find(arns.BATCH_JOB, request["batchInferenceJobArn"]).public}


def list_batch_inference_jobs(service, request: dict) -> dict:
    records = service.store.all(arns.BATCH_JOB)
    if request.get("solutionVersionArn"):
        records = [r for r in records if r.public["solutionVersionArn"] == request["solutionVersionArn"]]
    return page([{k: r.public[k] for k in _SUMMARY if k in r.public} for r in records], request,
                "batchInferenceJobs")


def resume(service) -> None:
    resume_recorded(service, arns.BATCH_JOB, WHAT)


# ---- the job (runs in its own process) -----------------------------------------------------------------

def run_batch_job(service, name: str) -> None:
    from ..batch import run_batch

    def work(record, staging) -> None:
        model = operations.load_model(service.workspace, record.public["solutionVersionArn"])
        target = Location(*record.private["target"])
        for source in copy_in(Location(*record.private["source"]), staging / "input"):
            output = staging / "output" / f"{source.name}.out"
            output.parent.mkdir(parents=True, exist_ok=True)
            summary = run_batch(model, source, output, record.public["numResults"])
            print(f"{source.name}: {summary['records']} records, {summary['errors']} errors -> "
                  f"{copy_out(output, target)}", flush=True)

    run_recorded(service.store, arns.BATCH_JOB, name, work)

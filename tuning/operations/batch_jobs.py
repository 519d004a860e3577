"""Batch inference jobs: JSON lines of users in, ``<input name>.out`` with their recommendations out.

CreateBatchInferenceJob records the job (``CREATE PENDING``) and hands it to the runner; the work
(:func:`run_batch_job`) copies the input in, scores it (:func:`tuning.batch.score_file`) and publishes each
output into the ``jobOutput`` folder (:func:`tuning.locations.write_from`), as ``<input name>.out``. An output
that exists is never replaced, except a regular file when the hrnn command is given ``--overwrite``.
"""

from __future__ import annotations

import secrets

from hrnn.errors import InvalidInputException

from .. import arns
from ..batch import MAX_INPUT_BYTES, score_file
from ..lifecycle import PENDING
from ..locations import Location, check_target, parse, read_into, write_from
from ..paging import page
from .listing import summary
from .filters import load_filter
from .jobs import Job, start
from .recorded import recorded_kind, resume_recorded, run_recorded
from .tags import tagged
from .versions import active_version

MODE = "BATCH_INFERENCE"
INPUT, OUTPUT = "jobInput.s3DataSource.path", "jobOutput.s3DataDestination.path"
_SUMMARY = ("batchInferenceJobArn", "jobName", "status", "creationDateTime", "lastUpdatedDateTime", "failureReason",
            "solutionVersionArn", "batchInferenceJobMode")


def create_batch_inference_job(ctx, request: dict) -> dict:
    if request.get("batchInferenceJobMode", MODE) != MODE:
        raise InvalidInputException(f"batchInferenceJobMode {request['batchInferenceJobMode']!r} is not supported; "
                                    f"expected {MODE}.")
    if request.get("themeGenerationConfig"):
        raise InvalidInputException("themeGenerationConfig is not supported by aws-hrnn; omit it.")
    from hrnn.artifact import DEFAULT_RESULTS, check_num_results

    active_version(ctx, request["solutionVersionArn"])
    if request.get("filterArn"):
        ctx.store.find(arns.FILTER, request["filterArn"])
    num_results = request.get("numResults", DEFAULT_RESULTS)
    check_num_results(num_results)
    source = parse(request["jobInput"]["s3DataSource"]["path"], INPUT, ctx.access)
    target = parse(request["jobOutput"]["s3DataDestination"]["path"], OUTPUT, ctx.access)
    overwrite = bool(ctx.local.get("overwrite"))
    if not source.given.endswith("/"):
        check_target(target, f"{source.name}.out", OUTPUT, ctx.access, overwrite)  # before any work
    name = request.get("jobName") or f"batch-{secrets.token_hex(4)}"
    public = {"jobName": name, "batchInferenceJobArn": ctx.store.arn(arns.BATCH_JOB, name),
              "solutionVersionArn": request["solutionVersionArn"], "numResults": num_results,
              "batchInferenceJobMode": MODE, "status": PENDING,
              **({"filterArn": request["filterArn"]} if request.get("filterArn") else {}),
              # The model allows only s3:// (and http) locations in a response: local paths are not echoed.
              **({"jobInput": request["jobInput"]} if source.scheme == "s3" else {}),
              **({"jobOutput": request["jobOutput"]} if target.scheme == "s3" else {}),
              **({"batchInferenceJobConfig": request["batchInferenceJobConfig"]}
                 if request.get("batchInferenceJobConfig") else {})}
    record, created = ctx.store.create(arns.BATCH_JOB, name, public, request, source=source.to_list(),
                                       target=target.to_list(), overwrite=overwrite, **tagged(request))
    response = {"batchInferenceJobArn": record.arn}
    return start(ctx, Job(arns.BATCH_JOB, record.name), response) if created else response


def describe_batch_inference_job(ctx, request: dict) -> dict:
    return {"batchInferenceJob": ctx.store.find(arns.BATCH_JOB, request["batchInferenceJobArn"]).public}


def list_batch_inference_jobs(ctx, request: dict) -> dict:
    records = ctx.store.all(arns.BATCH_JOB)
    if request.get("solutionVersionArn"):
        records = [r for r in records if r.public["solutionVersionArn"] == request["solutionVersionArn"]]
    return page([summary(r.public, _SUMMARY) for r in records], request, "batchInferenceJobs")


def run_batch_job(ctx, name: str) -> None:
    def work(record, staging) -> None:
        model = ctx.models.load(ctx, record.public["solutionVersionArn"])
        target = Location(*record.private["target"])
        sources = read_into(Location(*record.private["source"]), INPUT, ctx.access, staging / "input", MAX_INPUT_BYTES)
        (staging / "output").mkdir(parents=True, exist_ok=True)
        for source in sources:
            output = staging / "output" / f"{source.name}.out"
            summary = score_file(model, source, output, record.public["numResults"], _masks(ctx, record, model))
            where = write_from(output, target, output.name, OUTPUT, ctx.access, record.private.get("overwrite", False))
            ctx.note(f"wrote {summary['records']} records ({summary['errors']} with an error) to {where}")

    run_recorded(ctx, arns.BATCH_JOB, name, work)


def _masks(ctx, record, model):
    """The job's filter as ``score_file`` applies it: each line's own ``filterValues``, if it has any."""
    filter_arn = record.public.get("filterArn")
    if not filter_arn:
        return None
    allowed = load_filter(ctx, filter_arn)

    def masks_for(lines: list):
        import torch

        return torch.cat([allowed(line.get("filterValues"), model.model, [str(line["userId"])]) for line in lines])
    return masks_for


JOB_KIND = recorded_kind(arns.BATCH_JOB, run_batch_job, "batch inference")


def resume(ctx) -> None:
    resume_recorded(ctx, arns.BATCH_JOB)

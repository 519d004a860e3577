"""The service's operations: one table, one handler per operation, for every front end.

Each implemented operation is a handler ``(context, request) -> response`` under its service's name for it
(``personalize``, ``personalize-runtime``, ``personalize-events``). :func:`call` is the whole contract: the
request is checked once against botocore's input shape with this project's overlay (:mod:`tuning.contract`;
CreateSolution by its own stricter parser over the same shapes), the handler runs, and the result is the
service's response dictionary (tests check every one against botocore's output shape). The HTTP endpoint
only decodes the protocol and encodes this result or the error; the ``hrnn`` command only maps its
arguments to a request (its commands are generated from this table) and prints the response. Whether long
work runs now or in the background is the context's runner (:mod:`.jobs`), never a second implementation.

Adding an operation is a handler and one :class:`Operation` entry in :data:`TABLE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from hrnn.errors import InvalidInputException, ServiceError

from ..contract import CONTROL, EVENTS, IGNORED, RUNTIME, check_input
from ..store import storage_error
from . import (batch_jobs, campaigns, datasets, events, filters, imports, recipes, recommendations, schemas, solutions,
               tags, trackers, versions)
from .context import Context
from .jobs import BackgroundRunner, InlineRunner


class UnknownOperationException(ServiceError):
    type_name = "UnknownOperationException"


@dataclass(frozen=True)
class LocalOption:
    """A command-line option outside the service's shape (``--interactions``): it reaches the handler in
    ``context.local``, never in the request, so the endpoint cannot be sent it."""

    member: str
    help: str
    kind: str = "string"  # string, integer, number, boolean
    default: object = None


@dataclass(frozen=True)
class Operation:
    name: str
    service: str
    handler: Callable[[Context, dict], dict]
    local: tuple[LocalOption, ...] = ()
    validates_itself: bool = False  # CreateSolution: its parser walks the same shapes with its own rules


RUN_OPTIONS = (
    LocalOption("device", "training device: auto (CUDA when available), cpu, cuda or cuda:N", default="auto"),
    LocalOption("gpusPerTrial", "GPUs per HPO trial (default: 1 when the cluster has GPUs, else 0); 0.5 packs two "
                "trials per GPU", kind="number"),
    LocalOption("cpusPerTrial", "CPUs per HPO trial (default 1)", kind="integer", default=1),
    LocalOption("maxEpochs", "cap every trial's epochs (quick runs); at least 1", kind="integer"),
    LocalOption("storage", "Ray Tune storage: a directory or a URI such as s3://bucket/prefix (default: inside the "
                "version); on a cluster, reachable from every node"),
    LocalOption("earlyStopping", "HPO: stop trials that fall behind at epochs 1, 3, 9, ... (default: on)",
                kind="boolean"),
    LocalOption("refit", "HPO: train the best configuration again on all the training interactions and serve that "
                "model (default: off)", kind="boolean"),
)
INTERACTIONS = LocalOption("interactions", "Interactions CSV or Parquet file to train on (a path or file://); "
                           "default: the solution's dataset group's imported Interactions data")
OVERWRITE = LocalOption("overwrite", "replace an existing output file (only a regular file)", kind="boolean")

TABLE: dict[tuple[str, str], Operation] = {(op.service, op.name): op for op in (
    Operation("ListRecipes", CONTROL, recipes.list_recipes),
    Operation("DescribeRecipe", CONTROL, recipes.describe_recipe),
    Operation("DescribeAlgorithm", CONTROL, recipes.describe_algorithm),
    Operation("CreateSchema", CONTROL, schemas.create_schema),
    Operation("DescribeSchema", CONTROL, schemas.describe_schema),
    Operation("ListSchemas", CONTROL, schemas.list_schemas),
    Operation("DeleteSchema", CONTROL, schemas.delete_schema),
    Operation("CreateDatasetGroup", CONTROL, datasets.create_dataset_group),
    Operation("DescribeDatasetGroup", CONTROL, datasets.describe_dataset_group),
    Operation("ListDatasetGroups", CONTROL, datasets.list_dataset_groups),
    Operation("DeleteDatasetGroup", CONTROL, datasets.delete_dataset_group),
    Operation("CreateDataset", CONTROL, datasets.create_dataset),
    Operation("DescribeDataset", CONTROL, datasets.describe_dataset),
    Operation("ListDatasets", CONTROL, datasets.list_datasets),
    Operation("DeleteDataset", CONTROL, datasets.delete_dataset),
    Operation("CreateDatasetImportJob", CONTROL, imports.create_dataset_import_job),
    Operation("DescribeDatasetImportJob", CONTROL, imports.describe_dataset_import_job),
    Operation("ListDatasetImportJobs", CONTROL, imports.list_dataset_import_jobs),
    Operation("CreateSolution", CONTROL, solutions.create_solution, validates_itself=True),
    Operation("DescribeSolution", CONTROL, solutions.describe_solution),
    Operation("ListSolutions", CONTROL, solutions.list_solutions),
    Operation("DeleteSolution", CONTROL, solutions.delete_solution),
    Operation("CreateSolutionVersion", CONTROL, versions.create_solution_version, local=(INTERACTIONS, *RUN_OPTIONS)),
    Operation("DescribeSolutionVersion", CONTROL, versions.describe_solution_version),
    Operation("ListSolutionVersions", CONTROL, versions.list_solution_versions),
    Operation("StopSolutionVersionCreation", CONTROL, versions.stop_solution_version_creation),
    Operation("GetSolutionMetrics", CONTROL, versions.get_solution_metrics),
    Operation("CreateCampaign", CONTROL, campaigns.create_campaign),
    Operation("DescribeCampaign", CONTROL, campaigns.describe_campaign),
    Operation("ListCampaigns", CONTROL, campaigns.list_campaigns),
    Operation("DeleteCampaign", CONTROL, campaigns.delete_campaign),
    Operation("UpdateCampaign", CONTROL, campaigns.update_campaign),
    Operation("CreateBatchInferenceJob", CONTROL, batch_jobs.create_batch_inference_job, local=(OVERWRITE,)),
    Operation("DescribeBatchInferenceJob", CONTROL, batch_jobs.describe_batch_inference_job),
    Operation("ListBatchInferenceJobs", CONTROL, batch_jobs.list_batch_inference_jobs),
    Operation("CreateEventTracker", CONTROL, trackers.create_event_tracker),
    Operation("DescribeEventTracker", CONTROL, trackers.describe_event_tracker),
    Operation("ListEventTrackers", CONTROL, trackers.list_event_trackers),
    Operation("DeleteEventTracker", CONTROL, trackers.delete_event_tracker),
    Operation("CreateFilter", CONTROL, filters.create_filter),
    Operation("DescribeFilter", CONTROL, filters.describe_filter),
    Operation("ListFilters", CONTROL, filters.list_filters),
    Operation("DeleteFilter", CONTROL, filters.delete_filter),
    Operation("TagResource", CONTROL, tags.tag_resource),
    Operation("UntagResource", CONTROL, tags.untag_resource),
    Operation("ListTagsForResource", CONTROL, tags.list_tags_for_resource),
    Operation("GetRecommendations", RUNTIME, recommendations.get_recommendations),
    Operation("PutEvents", EVENTS, events.put_events),
)}

JOB_KINDS = {spec.kind: spec for spec in (versions.JOB_KIND, imports.JOB_KIND, batch_jobs.JOB_KIND)}


def call(ctx: Context, operation: str, request: object, service: str = CONTROL) -> dict:
    """Run one operation: the request checked once, the handler, the service's response."""
    op = TABLE.get((service, operation))
    if op is None:
        implemented = ", ".join(name for (svc, name) in TABLE if svc == service)
        raise UnknownOperationException(
            f"Operation {str(operation)[:100]!r} is not implemented by this server for {service}; implemented: "
            f"{implemented}.")
    check_text(request)
    if not op.validates_itself:
        check_input(service, operation, request)
    for member, why in IGNORED.items():
        if isinstance(request, dict) and request.get(member):
            ctx.note(f"note: {member} is accepted and ignored ({why}).")
    try:
        return op.handler(ctx, request)  # type: ignore[arg-type]
    except OSError as exc:  # the workspace's disk: full, read-only, removed
        raise storage_error(exc, f"complete {operation}") from None


def check_text(value: object, path: str = "request", depth: int = 0) -> None:
    """Strings must be text another program can read back: no lone surrogates (JSON's ``"\\ud800"``)."""
    if depth > 64:
        return  # the shape check refuses such nesting with its own message
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputException(f"{path} holds a lone surrogate (\\ud800-\\udfff), which is not text; "
                                        "send valid UTF-8.") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, path, depth + 1)
            check_text(item, f"{path}.{key}" if isinstance(key, str) else path, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_text(item, f"{path}[{i}]", depth + 1)


def inline_runner() -> InlineRunner:
    return InlineRunner(JOB_KINDS)


def background_runner(settings: dict, limits: dict[str, int] | None = None) -> BackgroundRunner:
    return BackgroundRunner(JOB_KINDS, settings, limits)


def resume_jobs(ctx: Context) -> None:
    """After a restart: adopt or run again every unfinished job, and load every campaign's model."""
    for module in (imports, versions, batch_jobs, campaigns):
        module.resume(ctx)


__all__ = ["Context", "JOB_KINDS", "LocalOption", "Operation", "RUN_OPTIONS", "TABLE", "UnknownOperationException",
           "background_runner", "call", "inline_runner", "resume_jobs"]

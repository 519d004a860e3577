"""Solution versions: CreateSolutionVersion, Describe, List, StopSolutionVersionCreation, GetSolutionMetrics.

CreateSolutionVersion claims a version (:func:`tuning.solution_version.claim_version`) and hands it to the
context's runner: the command line trains it now and answers when it is done, the endpoint answers at once
while a process of its own trains it. Either way the version trains on the caller's ``--interactions``
(command line only) or on the solution's dataset group's imported Interactions data, and says which.
"""

from __future__ import annotations

from pathlib import Path

from hrnn.errors import InvalidInputException, ResourceInUseException

from .. import arns
from ..contract import public
from ..lifecycle import ACTIVE, IN_PROGRESS, PENDING, STOPPED, STOPPING, UNFINISHED
from ..locations import local_file
from ..locks import is_held
from ..paging import page
from ..solution_version import claim_version, end_unfinished, lock_path, train_version
from ..workspace import version_summary
from .datasets import interactions_data
from .jobs import Job, JobKind, start
from .tags import tagged


JOB_KIND = JobKind(arns.SOLUTION_VERSION, work=train_version,
                   lock_path=lambda ctx, name: lock_path(ctx, name.split("/")[0]), on_exit=end_unfinished)


def create_solution_version(ctx, request: dict) -> dict:
    if request.get("trainingMode", "FULL") != "FULL":
        raise InvalidInputException(
            f"trainingMode {request['trainingMode']!r} is not supported by aws-hrnn; expected FULL (or omit it).")
    solution = ctx.store.find(arns.SOLUTION, request["solutionArn"])
    options = ctx.run_options.check()
    data, source, through = training_data(ctx, solution)
    job = {"interactions": data, **options.identity(), "origin": ctx.origin, "eventsThrough": through}
    record, resumed = claim_version(ctx, solution, job, tagged(request)["tags"])
    ctx.note(f"{'resuming' if resumed else 'training'} solution version {record.arn} on {source}")
    return start(ctx, Job(arns.SOLUTION_VERSION, record.name), {"solutionVersionArn": record.arn})


def training_data(ctx, solution) -> tuple[str, str, int]:
    """(the Interactions file, what it is in words, the seq of the last tracked event in it): the command
    line's ``--interactions``, else the solution's dataset group's imported data plus its tracked events (as
    the service trains on both); never a silent default."""
    given = ctx.local.get("interactions")
    if given:
        path = local_file(given, "--interactions", ctx.access)
        return path, f"{path} (--interactions)", -1
    group = solution.public.get("datasetGroupArn")
    if not group:
        raise InvalidInputException(
            f"Solution {solution.arn} has no dataset group to train on: give --interactions FILE (hrnn command), or "
            "create the solution with a datasetGroupArn whose Interactions dataset has imported data.")
    group_name = ctx.store.identity.parse(arns.DATASET_GROUP, group, "datasetGroupArn")
    if not ctx.store.exists(arns.DATASET_GROUP, group_name):
        raise InvalidInputException(
            f"Solution {solution.arn}'s dataset group {group} does not exist here; give --interactions FILE (hrnn "
            "command), or create the dataset group and import its Interactions data first.")
    data, dataset = interactions_data(ctx, group)
    events = ctx.live.log(ctx.store, group_name).events()
    if not events:
        return data, f"the imported data of {dataset}", -1
    combined = Path(data).with_name(f"{Path(data).stem}+events-{events[-1].seq}.parquet")
    if not combined.exists():
        _write_with_events(data, events, combined)
    return str(combined), f"the imported data of {dataset} and its tracked events", events[-1].seq


def _write_with_events(data: str, events, target: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hrnn.atomic import atomic_path
    from hrnn.data.interactions import read_interactions

    from ..live.eventlog import training_rows

    rows = training_rows(events)
    tracked = pa.table({"USER_ID": pa.array(rows["USER_ID"], pa.string()),
                        "ITEM_ID": pa.array(rows["ITEM_ID"], pa.string()),
                        "TIMESTAMP": pa.array(rows["TIMESTAMP"], pa.int64()),
                        "EVENT_TYPE": pa.array(rows["EVENT_TYPE"], pa.string()),
                        "EVENT_VALUE": pa.array(rows["EVENT_VALUE"], pa.float64())})
    imported = read_interactions(data)
    imported = imported.cast(pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else
                                                 f.type) for f in imported.schema]))  # categorical columns as text
    with atomic_path(target) as tmp:
        pq.write_table(pa.concat_tables([imported, tracked], promote_options="permissive"), tmp)


def describe_solution_version(ctx, request: dict) -> dict:
    record = ctx.store.find(arns.SOLUTION_VERSION, request["solutionVersionArn"])
    return {"solutionVersion": public("SolutionVersion", record.public)}


def list_solution_versions(ctx, request: dict) -> dict:
    under = None
    if request.get("solutionArn"):
        under = ctx.store.find(arns.SOLUTION, request["solutionArn"]).name
    summaries = [version_summary(r.public) for r in ctx.store.all(arns.SOLUTION_VERSION, under=under)]
    return page(summaries, request, "solutionVersions")


def active_version(ctx, arn: str):
    """The record of an ACTIVE version (metrics and recommendations need one)."""
    record = ctx.store.find(arns.SOLUTION_VERSION, arn)
    if record.status != ACTIVE:
        raise ResourceInUseException(
            f"Solution version {arn} is {record.status!r}; metrics and recommendations need ACTIVE.")
    return record


def get_solution_metrics(ctx, request: dict) -> dict:
    record = active_version(ctx, request["solutionVersionArn"])
    return ctx.workspace.version_files(record.name).read_metrics()


def stop_solution_version_creation(ctx, request: dict) -> dict:
    record = ctx.store.find(arns.SOLUTION_VERSION, request["solutionVersionArn"])
    if record.status not in (PENDING, IN_PROGRESS):
        raise ResourceInUseException(
            f"Solution version {record.arn} is {record.status!r}; only a version that is {PENDING!r} or "
            f"{IN_PROGRESS!r} can be stopped.")
    job = Job(arns.SOLUTION_VERSION, record.name)
    if record.status == IN_PROGRESS:
        ctx.store.update(record, {"status": STOPPING})
    if ctx.runner.stop(ctx, job):
        return {}
    if is_held(lock_path(ctx, record.name.split("/")[0])):
        ctx.store.update(record, {"status": record.status})
        raise ResourceInUseException(
            f"Solution version {record.arn} is trained by a process this server cannot signal (another host, or "
            "not proven to be that version's); stop it where it runs.")
    ctx.store.update(record, {"status": STOPPED, "failureReason": "Stopped by StopSolutionVersionCreation."})
    return {}


def resume(ctx) -> None:
    """After a restart: adopt versions whose process still holds the lock, run the rest again (each resumes
    from its checkpoint or Ray experiment), and finish stopping the ones asked to stop."""
    for record in ctx.store.all(arns.SOLUTION_VERSION):
        if record.status not in UNFINISHED or record.private.get("job", {}).get("origin") != ctx.origin:
            continue
        job = Job(arns.SOLUTION_VERSION, record.name)
        ctx.runner.submit(ctx, job)
        if record.status == STOPPING:
            ctx.runner.stop(ctx, job)

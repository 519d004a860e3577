"""Solutions: CreateSolution, DescribeSolution (with ``latestSolutionVersion``), ListSolutions, DeleteSolution.

CreateSolution validates the whole request (everything a version could refuse about it) and records it; a
solution is immutable, so the same request again is a retry (null members count as absent) and a different
one under the same name is refused. The typed request is parsed here once per process that needs it.
"""

from __future__ import annotations

import shutil

from hrnn.errors import ResourceInUseException

from .. import arns
from ..contract import public
from ..lifecycle import ACTIVE, UNFINISHED
from .listing import list_records
from ..request import typed_request
from ..workspace import version_summary
from .tags import tagged

_SUMMARY = ("name", "solutionArn", "status", "creationDateTime", "lastUpdatedDateTime", "recipeArn")


def create_solution(ctx, request: dict) -> dict:
    parsed = typed_request(request)  # the whole request first: nothing is written for a bad one
    ctx.workspace.ensure()
    solution = {
        "name": parsed.name, "solutionArn": ctx.store.arn(arns.SOLUTION, parsed.name),
        "performHPO": parsed.perform_hpo, "performAutoML": parsed.perform_automl,
        "recipeArn": parsed.recipe.recipe_arn,
        **({"datasetGroupArn": parsed.dataset_group_arn} if parsed.dataset_group_arn else {}),
        **({"eventType": parsed.event_type} if parsed.event_type else {}),
        "solutionConfig": parsed.solution_config, "status": ACTIVE,
    }
    record, _ = ctx.store.create(arns.SOLUTION, parsed.name, solution, request, **tagged(request))
    return {"solutionArn": record.arn}


def describe_solution(ctx, request: dict) -> dict:
    record = ctx.store.find(arns.SOLUTION, request["solutionArn"])
    solution = dict(record.public)
    versions = ctx.store.all(arns.SOLUTION_VERSION, under=record.name)
    if versions:
        solution["latestSolutionVersion"] = version_summary(versions[-1].public)
    return {"solution": public("Solution", solution)}


def list_solutions(ctx, request: dict) -> dict:
    return list_records(ctx, request, arns.SOLUTION, "solutions", _SUMMARY,
                        parent=("datasetGroupArn", arns.DATASET_GROUP))


def delete_solution(ctx, request: dict) -> dict:
    record = ctx.store.find(arns.SOLUTION, request["solutionArn"])
    for version in ctx.store.all(arns.SOLUTION_VERSION, under=record.name):
        if version.status in UNFINISHED:
            raise ResourceInUseException(f"Solution version {version.arn} is still being created; stop it "
                                         "(StopSolutionVersionCreation) or wait before deleting the solution.")
    prefix = record.arn + "/"
    for campaign in ctx.store.all(arns.CAMPAIGN):
        if campaign.public["solutionVersionArn"].startswith(prefix):
            raise ResourceInUseException(f"Campaign {campaign.arn} serves a version of this solution; delete it first.")
    with ctx.store.updating():
        ctx.store.delete(record)  # the record first, so a half-removed solution is never listed
        shutil.rmtree(ctx.workspace.root / "solutions" / record.name, ignore_errors=True)
    return {}

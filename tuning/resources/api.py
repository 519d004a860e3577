"""Every control-plane operation this project implements, by the service's name for it.

:func:`call` is the whole contract of an operation: the request is checked against botocore's input shape
(CreateSolution by its own, stricter parser), the handler runs, and the result is the service's response
dictionary. The HTTP endpoint only decodes the protocol and encodes this result or the error.
"""

from __future__ import annotations

from hrnn.errors import ServiceError

from .. import operations
from . import batch_jobs, campaigns, datasets, imports, schemas, versions
from .contract import check_input, public


class UnknownOperationException(ServiceError):
    type_name = "UnknownOperationException"


def list_recipes(service, request: dict) -> dict:
    if request.get("domain"):
        return {"recipes": []}  # no domain (recommender) recipes here
    return operations.list_recipes()


def describe_recipe(service, request: dict) -> dict:
    return operations.describe_recipe(request["recipeArn"])


def describe_algorithm(service, request: dict) -> dict:
    return {"algorithm": public("Algorithm", operations.describe_algorithm(request["algorithmArn"])["algorithm"])}


OPERATIONS = {
    "CreateSchema": schemas.create_schema,
    "DescribeSchema": schemas.describe_schema,
    "ListSchemas": schemas.list_schemas,
    "CreateDatasetGroup": datasets.create_dataset_group,
    "DescribeDatasetGroup": datasets.describe_dataset_group,
    "ListDatasetGroups": datasets.list_dataset_groups,
    "CreateDataset": datasets.create_dataset,
    "DescribeDataset": datasets.describe_dataset,
    "ListDatasets": datasets.list_datasets,
    "CreateDatasetImportJob": imports.create_dataset_import_job,
    "DescribeDatasetImportJob": imports.describe_dataset_import_job,
    "ListDatasetImportJobs": imports.list_dataset_import_jobs,
    "ListRecipes": list_recipes,
    "DescribeRecipe": describe_recipe,
    "DescribeAlgorithm": describe_algorithm,
    "CreateSolution": versions.create_solution,
    "DescribeSolution": versions.describe_solution,
    "ListSolutions": versions.list_solutions,
    "DeleteSolution": versions.delete_solution,
    "CreateSolutionVersion": versions.create_solution_version,
    "DescribeSolutionVersion": versions.describe_solution_version,
    "ListSolutionVersions": versions.list_solution_versions,
    "StopSolutionVersionCreation": versions.stop_solution_version_creation,
    "GetSolutionMetrics": versions.get_solution_metrics,
    "CreateCampaign": campaigns.create_campaign,
    "DescribeCampaign": campaigns.describe_campaign,
    "ListCampaigns": campaigns.list_campaigns,
    "DeleteCampaign": campaigns.delete_campaign,
    "CreateBatchInferenceJob": batch_jobs.create_batch_inference_job,
    "DescribeBatchInferenceJob": batch_jobs.describe_batch_inference_job,
    "ListBatchInferenceJobs": batch_jobs.list_batch_inference_jobs,
}
SELF_VALIDATING = ("CreateSolution",)  # its parser walks the same botocore shape with this project's overlay


def call(service, operation: str, request: object) -> dict:
    handler = OPERATIONS.get(operation)
    if handler is None:
        raise UnknownOperationException(
            f"Operation {operation!r} is not implemented by this server; implemented: {', '.join(OPERATIONS)}.")
    if operation not in SELF_VALIDATING:
        check_input(operation, request)
    return handler(service, request)  # type: ignore[arg-type]

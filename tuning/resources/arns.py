"""ARNs of the data, campaign and batch resources, in the service's formats.

Why strict parsing: an ARN from a client becomes a path in the workspace. Names are the service's ``Name``
(``[a-zA-Z0-9][a-zA-Z0-9-_]*``, at most 63 characters), so a name can never hold ``/`` or ``..``; anything
else is refused before a path is built. Region and account are ignored when reading (a client's own region
may appear in an ARN it built) and written as the workspace's (``local``, ``000000000000``).
"""

from __future__ import annotations

import re

from hrnn.errors import InvalidInputException

from ..workspace import ACCOUNT, REGION

NAME = r"[a-zA-Z0-9][a-zA-Z0-9\-_]{0,62}"
DATASET_TYPES = ("INTERACTIONS", "ITEMS", "USERS")

SCHEMA = "schema"
DATASET_GROUP = "dataset-group"
DATASET = "dataset"
IMPORT_JOB = "dataset-import-job"
CAMPAIGN = "campaign"
BATCH_JOB = "batch-inference-job"
KINDS = (SCHEMA, DATASET_GROUP, DATASET, IMPORT_JOB, CAMPAIGN, BATCH_JOB)

_PREFIX = "arn:aws:personalize:[^:]*:[^:]*:"
_PATTERNS = {kind: re.compile(f"^{_PREFIX}{kind}/({NAME})$") for kind in KINDS if kind != DATASET}
_PATTERNS[DATASET] = re.compile(f"^{_PREFIX}dataset/({NAME})/({'|'.join(DATASET_TYPES)})$")
_MEMBER = {SCHEMA: "schemaArn", DATASET_GROUP: "datasetGroupArn", DATASET: "datasetArn",
           IMPORT_JOB: "datasetImportJobArn", CAMPAIGN: "campaignArn", BATCH_JOB: "batchInferenceJobArn"}


def arn(kind: str, name: str) -> str:
    """The ARN of a resource; a dataset's name is ``<dataset group name>/<TYPE>``, as in the service."""
    return f"arn:aws:personalize:{REGION}:{ACCOUNT}:{kind}/{name}"


def parse(kind: str, value: object, member: str | None = None) -> str:
    """The resource name an ARN of ``kind`` names (``group/TYPE`` for a dataset); InvalidInput otherwise."""
    match = _PATTERNS[kind].match(value) if isinstance(value, str) else None
    if not match:
        example = arn(kind, "<dataset group name>/INTERACTIONS" if kind == DATASET else "<name>")
        raise InvalidInputException(
            f"{member or _MEMBER[kind]} {value!r} is not a {kind} ARN; expected {example}.")
    return "/".join(match.groups())

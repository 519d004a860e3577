"""ARNs of every resource, in the service's formats, and the one place a client's ARN becomes a name.

Why strict parsing: an ARN from a client becomes a path in the workspace. Names are the service's ``Name``
(``[a-zA-Z0-9][a-zA-Z0-9-_]*``, at most 63 characters), so a name can never hold ``/`` or ``..``; a version
id is 8 hex digits; anything else is refused before a path is built. An ARN of another region or account
than the workspace's names nothing here (ResourceNotFoundException), as in the service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hrnn.errors import InvalidInputException, ResourceNotFoundException

NAME = r"[a-zA-Z0-9][a-zA-Z0-9\-_]{0,62}"
VERSION_ID = r"[0-9a-f]{8}"
DATASET_TYPES = ("INTERACTIONS", "ITEMS", "USERS")

SCHEMA = "schema"
DATASET_GROUP = "dataset-group"
DATASET = "dataset"
IMPORT_JOB = "dataset-import-job"
SOLUTION = "solution"
SOLUTION_VERSION = "solution-version"
CAMPAIGN = "campaign"
BATCH_JOB = "batch-inference-job"
EVENT_TRACKER = "event-tracker"
FILTER = "filter"

# kind -> (the ARN's resource part as a regex of the name's parts, how the parts join into the record name)
_RESOURCE = {
    SCHEMA: f"schema/({NAME})",
    DATASET_GROUP: f"dataset-group/({NAME})",
    DATASET: f"dataset/({NAME})/({'|'.join(DATASET_TYPES)})",
    IMPORT_JOB: f"dataset-import-job/({NAME})",
    SOLUTION: f"solution/({NAME})",
    SOLUTION_VERSION: f"solution/({NAME})/({VERSION_ID})",
    CAMPAIGN: f"campaign/({NAME})",
    BATCH_JOB: f"batch-inference-job/({NAME})",
    EVENT_TRACKER: f"event-tracker/({VERSION_ID})",
    FILTER: f"filter/({NAME})",
}
KINDS = tuple(_RESOURCE)
_PATTERNS = {kind: re.compile(rf"arn:aws:personalize:([^:]*):([^:]*):{body}") for kind, body in _RESOURCE.items()}
MEMBERS = {SCHEMA: "schemaArn", DATASET_GROUP: "datasetGroupArn", DATASET: "datasetArn",
           IMPORT_JOB: "datasetImportJobArn", SOLUTION: "solutionArn", SOLUTION_VERSION: "solutionVersionArn",
           CAMPAIGN: "campaignArn", BATCH_JOB: "batchInferenceJobArn", EVENT_TRACKER: "eventTrackerArn",
           FILTER: "filterArn"}
TITLES = {SCHEMA: "Schema", DATASET_GROUP: "Dataset group", DATASET: "Dataset", IMPORT_JOB: "Dataset import job",
          SOLUTION: "Solution", SOLUTION_VERSION: "Solution version", CAMPAIGN: "Campaign",
          BATCH_JOB: "Batch inference job", EVENT_TRACKER: "Event tracker", FILTER: "Filter"}


DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}|[a-z][a-z0-9-]{0,30}")
_ACCOUNT = re.compile(r"\d{12}")


@dataclass(frozen=True)
class Identity:
    """The region and account in every ARN of a workspace: the settings a client builds ARNs from (its
    region, its account), so code that builds ARNs itself finds what it created."""

    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT

    @classmethod
    def checked(cls, region: str, account: str, where: str = "") -> "Identity":
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            raise InvalidInputException(f"{where or 'region'} {region!r} is not a region name (e.g. us-east-1).")
        if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
            raise InvalidInputException(f"{where or 'account id'} {account!r} is not an account id (12 digits).")
        return cls(region, account)

    def arn(self, kind: str, name: str) -> str:
        """A resource's ARN; a dataset's name is ``<group>/<TYPE>``, a version's ``<solution>/<id>``."""
        prefix = "solution" if kind == SOLUTION_VERSION else kind
        return f"arn:aws:personalize:{self.region}:{self.account}:{prefix}/{name}"

    def parse(self, kind: str, value: object, member: str | None = None) -> str:
        """The record name an ARN of ``kind`` names: InvalidInput for a malformed ARN, ResourceNotFound for
        one of another region or account."""
        match = _PATTERNS[kind].fullmatch(value) if isinstance(value, str) else None
        member = member or MEMBERS[kind]
        if not match:
            example = self.arn(kind, {DATASET: "<dataset group name>/INTERACTIONS",
                                      SOLUTION_VERSION: "<solution name>/<8 hex digits>",
                                      EVENT_TRACKER: "<8 hex digits>"}.get(kind, "<name>"))
            shown = value[:300] if isinstance(value, str) else value
            raise InvalidInputException(f"{member} {shown!r} is not a {TITLES[kind].lower()} ARN; expected {example}.")
        region, account, *parts = match.groups()
        if (region, account) != (self.region, self.account):
            raise ResourceNotFoundException(
                f"{member} {value!r} names region {region!r}, account {account!r}; this workspace holds only "
                f"arn:aws:personalize:{self.region}:{self.account}: resources.")
        return "/".join(parts)

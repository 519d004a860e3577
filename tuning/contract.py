"""The wire contract of every operation: botocore's Personalize models plus this project's overlay.

Why read the models rather than re-type them: member names, types, limits and required members then cannot
drift from what boto3 and the AWS CLI send. What this project accepts differently is listed in one overlay
per service, one entry per member with the reason (CreateSolution's entries live beside its parser in
:mod:`tuning.request.envelope`); :func:`table` merges it over botocore's shapes and :func:`check_input`
validates a request once, for every front end.

Overlay keys: ``required`` (True/False, rewrites the structure's required list), ``min``/``max``/``pattern``/
``enum`` (narrow the member's shape), ``refused``, ``const`` + ``reason``, ``hint`` (see :mod:`tuning.shapes`)
and ``why`` (for the reader). A list's item is ``Shape.member``, a map's value ``Shape.value``.
"""

from __future__ import annotations

import copy
import functools

from .shapes import service_model, validate

CONTROL, RUNTIME, EVENTS = "personalize", "personalize-runtime", "personalize-events"
SERVICES = (CONTROL, RUNTIME, EVENTS)

_LOCATION = {
    "pattern": r".+",
    "hint": "an s3://bucket/key URI, a file:// URI or a local path on the server",
    "why": "the service reads S3 only; this project also reads the machine's own files (within --data-dir)",
}
_IGNORED_ROLE = {"required": False, "why": "there is no IAM here: a role is accepted and ignored"}


def _overlays() -> dict[str, dict[str, dict]]:
    from .request.envelope import OVERLAY as CREATE_SOLUTION

    return {
        CONTROL: {
            **CREATE_SOLUTION,
            "DataSource.dataLocation": {**_LOCATION, "required": True,
                                        "why": "an import reads from somewhere (the model leaves it optional "
                                               "for data deletion jobs)"},
            "S3DataConfig.path": _LOCATION,
            "CreateBatchInferenceJobRequest.roleArn": _IGNORED_ROLE,
            "CreateBatchInferenceJobRequest.jobName": {
                "required": False, "why": "the hrnn command names a job itself when no name is given"},
        },
        RUNTIME: {},
        EVENTS: {},
    }


# Members the service accepts that this project does not act on: accepted, with a note (never refused).
IGNORED = {
    "roleArn": "there is no IAM here; the role is not used",
    "kmsKeyArn": "data is not encrypted with KMS here",
}


def shapes(service: str) -> dict[str, dict]:
    """botocore's shapes of one service, untouched. Treat as read-only."""
    return service_model(service)["shapes"]


@functools.lru_cache(maxsize=8)
def table(service: str = CONTROL, automl: bool = False) -> dict[str, dict]:
    """botocore's shapes with the service's overlay applied (copy-on-write: botocore's dict is untouched).

    ``automl``: CreateSolution with performAutoML, where every solutionConfig member but autoMLConfig is
    ignored, so the members a recipe run refuses are only shape-checked. An overlay entry for a member the
    installed botocore does not declare is skipped (tests keep the overlay from going stale).
    """
    from .request.envelope import AUTOML_LIFTS_REFUSALS_IN

    merged = dict(shapes(service))
    copied: set[str] = set()
    for address, entry in _overlays()[service].items():
        shape_name, _, member = address.partition(".")
        if shape_name not in merged:
            continue
        if shape_name not in copied:
            merged[shape_name] = copy.deepcopy(merged[shape_name])
            copied.add(shape_name)
        shape = merged[shape_name]
        ref = shape.get("members", {}).get(member) if shape["type"] == "structure" else shape.get(member)
        if ref is None:
            continue
        changes = {key: value for key, value in entry.items() if key not in ("why", "required")}
        if automl and shape_name == AUTOML_LIFTS_REFUSALS_IN:
            changes.pop("refused", None)
        ref.update(changes)
        if "required" in entry:
            required = [m for m in shape.get("required", ()) if m != member]
            shape["required"] = required + [member] if entry["required"] else required
    return merged


def operation_model(service: str, operation: str) -> dict | None:
    return service_model(service)["operations"].get(operation)


def input_shape(service: str, operation: str) -> str | None:
    model = operation_model(service, operation)
    return (model or {}).get("input", {}).get("shape")


def output_shape(service: str, operation: str) -> str | None:
    model = operation_model(service, operation)
    return (model or {}).get("output", {}).get("shape")


def check_input(service: str, operation: str, request: object) -> dict:
    """Validate a request against the operation's input shape (with the overlay); return it."""
    shape = input_shape(service, operation)
    if shape is not None:
        validate(table(service), shape, request)
    return request  # type: ignore[return-value]


def members(shape_name: str, service: str = CONTROL) -> tuple[str, ...]:
    """The members a structure shape declares (what a response may carry)."""
    return tuple(shapes(service)[shape_name]["members"])


def public(shape_name: str, record: dict, service: str = CONTROL) -> dict:
    """``record`` without what the model does not declare, and without nulls."""
    allowed = members(shape_name, service)
    return {key: value for key, value in record.items() if key in allowed and value is not None}


def http_status(error_type: str, service: str) -> int:
    """The HTTP status the model gives an exception (the runtime's 404 for ResourceNotFound), else 400."""
    shape = shapes(service).get(error_type) or {}
    return int(shape.get("error", {}).get("httpStatusCode", 400))


@functools.lru_cache(maxsize=4)
def paginators(service: str) -> dict:
    """botocore's paginator configuration (input/output token, limit key, result key) of a service."""
    from botocore.loaders import Loader

    try:
        return Loader().load_service_model(service, "paginators-1")["pagination"]
    except Exception:  # noqa: BLE001 - a service without paginators
        return {}

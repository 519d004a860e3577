"""The wire contract of every resource operation: botocore's ``personalize`` and ``personalize-runtime`` models.

Why read them rather than re-type them: member names, types, limits and required members then cannot drift
from what boto3 and the AWS CLI send. What this project accepts differently is listed in :data:`OVERLAY`
(one entry per member, with the reason), exactly as :mod:`tuning.request.envelope` does for CreateSolution.
"""

from __future__ import annotations

import copy
import functools

from ..shapes import service_model, validate

# "Shape.member" -> narrowing applied to that member reference (see tuning.shapes); "why" is for the reader.
_LOCATION = {
    "pattern": r".+",
    "hint": "an s3:// URI, a file:// URI or a local path on the server",
    "why": "the service reads S3 only; this server also reads the machine's own files (within --data-dir)",
}
OVERLAY: dict[str, dict] = {
    "DataSource.dataLocation": _LOCATION,
    "S3DataConfig.path": _LOCATION,
}


def control_shapes() -> dict[str, dict]:
    return service_model("personalize")["shapes"]


def runtime_shapes() -> dict[str, dict]:
    return service_model("personalize-runtime")["shapes"]


@functools.lru_cache(maxsize=1)
def input_table() -> dict[str, dict]:
    """The control plane's shapes with :data:`OVERLAY` applied (copy-on-write; botocore's dict untouched)."""
    shapes = dict(control_shapes())
    for address, entry in OVERLAY.items():
        shape_name, _, member = address.partition(".")
        shape = shapes[shape_name] = copy.deepcopy(shapes[shape_name])
        shape["members"][member].update({k: v for k, v in entry.items() if k != "why"})
    return shapes


def check_input(operation: str, request: object) -> dict:
    """Validate a control-plane request against ``<operation>Request``; return it (now a checked object)."""
    validate(input_table(), f"{operation}Request", request)
    return request  # type: ignore[return-value]


def check_runtime_input(operation: str, request: object) -> dict:
    validate(runtime_shapes(), f"{operation}Request", request)
    return request  # type: ignore[return-value]


def members(shape_name: str, service: str = "personalize") -> tuple[str, ...]:
    """The members a structure shape declares (what a response may carry)."""
    return tuple(service_model(service)["shapes"][shape_name]["members"])


def public(shape_name: str, record: dict) -> dict:
    """``record`` without what the model does not declare (bookkeeping such as a training process's pid)."""
    allowed = members(shape_name)
    return {key: value for key, value in record.items() if key in allowed and value is not None}


def http_status(error_type: str, service: str) -> int:
    """The HTTP status the model gives an exception (the runtime's 404 for ResourceNotFound), else 400."""
    shape = service_model(service)["shapes"].get(error_type) or {}
    return int(shape.get("error", {}).get("httpStatusCode", 400))

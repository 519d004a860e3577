"""Errors in the service's shape: ``{"__type": "InvalidInputException", "message": ...}``.

Every user-facing failure is one of these, so the CLI can print the service's JSON error and exit
non-zero instead of showing a traceback.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class; ``type_name`` is the service's exception name used as ``__type``."""

    type_name = "ServiceException"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict:
        return {"__type": self.type_name, "message": self.message}


class InvalidInputException(ServiceError):
    type_name = "InvalidInputException"


class ResourceNotFoundException(ServiceError):
    type_name = "ResourceNotFoundException"


class ResourceAlreadyExistsException(ServiceError):
    type_name = "ResourceAlreadyExistsException"


class ResourceInUseException(ServiceError):
    type_name = "ResourceInUseException"


class LimitExceededException(ServiceError):
    type_name = "LimitExceededException"

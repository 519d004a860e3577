"""The one status vocabulary of every resource, the service's own strings.

Why one module: a solution version, an import, a batch job and a campaign all go ``CREATE PENDING`` ->
``CREATE IN_PROGRESS`` -> ``ACTIVE`` (or ``CREATE FAILED``); which of them count as unfinished decides who
may resume, adopt or delete what, so it is said once here and read everywhere.
"""

from __future__ import annotations

PENDING = "CREATE PENDING"
IN_PROGRESS = "CREATE IN_PROGRESS"
ACTIVE = "ACTIVE"
FAILED = "CREATE FAILED"
STOPPING = "CREATE STOPPING"  # a stop was asked for while the work ran
STOPPED = "CREATE STOPPED"
DELETE_PENDING = "DELETE PENDING"
DELETE_IN_PROGRESS = "DELETE IN_PROGRESS"

UNFINISHED = (PENDING, IN_PROGRESS, STOPPING)  # work is queued or running (or its process died meanwhile)
FINAL = (ACTIVE, FAILED, STOPPED)
STOPPABLE = (PENDING, IN_PROGRESS)

"""The embedded sample: a small Interactions file and example CreateSolution requests.

They live in the checkout's ``data/`` and ship inside the installed package as ``tuning/examples`` (a link
to ``data/`` in the source tree, copied into wheels), so ``hrnn run`` works from a checkout, an editable
install and a wheel alike.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from hrnn.errors import ResourceNotFoundException

SAMPLE_INTERACTIONS = "sample_interactions.csv"
HPO_REQUEST = "hpo_request.json"
NO_HPO_REQUEST = "no_hpo_request.json"


def examples_dir() -> Path:
    return Path(str(importlib.resources.files("tuning") / "examples"))


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ResourceNotFoundException(
            f"The embedded sample {path.name!r} is missing from this installation ({str(path)!r}); pass your own "
            "file, or reinstall the package with its data (pip install hrnn-personalize).")
    return path


def sample_interactions() -> Path:
    return _existing(examples_dir() / SAMPLE_INTERACTIONS)


def example_request(name: str = HPO_REQUEST) -> Path:
    return _existing(examples_dir() / "requests" / name)

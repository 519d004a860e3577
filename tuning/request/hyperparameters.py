"""The fixed hyperparameters of a request, read against the recipe.

Why: ``algorithmHyperParameters`` and ``featureTransformationParameters`` are plain string maps in the
envelope (checked by :mod:`.envelope`); only the recipe knows which names exist, where each kind may be
given, and what a value means. :meth:`hrnn.hyperparameters.HyperParameter.parse` is the only place a
value is typed, so every range and rule on a value (e.g. ``session_timeout_minutes`` in (0, 525600]) is
the recipe's, stated once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hrnn.errors import InvalidInputException
from hrnn.hyperparameters import HyperParameterValues
from hrnn.recipe import ALGORITHM, FEATURIZATION, TRAINING, HyperParameter, Recipe

from ..shapes import invalid, join_path, show
from .rules import given_once

# Where each hyperparameter kind may be given.
ALGORITHM_MAP_KINDS = (ALGORITHM, TRAINING, FEATURIZATION)
FEATURE_MAP_KINDS = (FEATURIZATION,)


@dataclass(frozen=True)
class Fixed:
    """A hyperparameter value the user fixed, with where it came from (for messages)."""

    path: str
    text: str
    value: Any


def parse_fixed_hyperparameters(recipe: Recipe, config: dict) -> dict[str, Fixed]:
    """Merge algorithmHyperParameters and featureTransformationParameters, keyed by plain name."""
    fixed: dict[str, Fixed] = {}
    _parse_parameter_map(recipe, config.get("algorithmHyperParameters"), "algorithmHyperParameters",
                         ALGORITHM_MAP_KINDS, fixed)
    _parse_parameter_map(recipe, config.get("featureTransformationParameters"),
                         "featureTransformationParameters", FEATURE_MAP_KINDS, fixed)
    return fixed


def effective_hyperparameters(recipe: Recipe, fixed: dict[str, Fixed]) -> HyperParameterValues:
    """The recipe's defaults with the fixed values over them (already typed and checked)."""
    return recipe.values(**{name: f.value for name, f in fixed.items()})


def _parse_parameter_map(recipe: Recipe, params: dict | None, member: str, kinds: tuple[str, ...],
                         fixed: dict[str, Fixed]) -> None:
    path = join_path("solutionConfig", member)
    for key, text in (params or {}).items():
        key_path = join_path(path, key)
        hp = _resolve_parameter_name(recipe, key, kinds, path)
        given_once(hp, key_path, text, fixed)
        try:
            value = hp.parse(text)
        except ValueError:
            raise invalid(key_path, text, f"{hp.name} must be {hp.allowed()}") from None
        fixed[hp.name] = Fixed(key_path, text, value)


def _resolve_parameter_name(recipe: Recipe, key: str, kinds: tuple[str, ...], path: str) -> HyperParameter:
    hp = recipe.lookup(key)
    if hp is not None and hp.kind in kinds:
        return hp
    accepted = [p for p in recipe.hyperparameters if p.kind in kinds]
    names = ", ".join(p.name + (f" (alias {', '.join(p.aliases)})" if p.aliases else "") for p in accepted)
    hint = f"{hp.name} ({hp.kind} kind) belongs in algorithmHyperParameters. " if hp else ""
    raise InvalidInputException(
        f"{path}: unknown hyperparameter {show(key)} for {recipe.name}. {hint}"
        f"Accepted names (plain, or prefixed with training., data. or model.): {names}."
    )

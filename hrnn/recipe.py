"""The aws-hrnn recipe, declared once as data.

Validation, defaults, the typed hyperparameter object, HPO search spaces, ``list-recipes`` /
``describe-recipe`` and the README table all read :data:`HRNN_RECIPE`. Declared defaults are wire strings, as
the service shows them; :attr:`Recipe.defaults` types them once, at import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .hyperparameters import (ALGORITHM, CATEGORICAL, CONTINUOUS, DATA_SETTINGS, FEATURIZATION, INTEGER,  # noqa: F401
                              MODEL_SETTINGS, TRAINING, TRAINING_SETTINGS, HyperParameter, HyperParameterValues,
                              parse_values, values_class)

SERVICE_PREFIXES = ("training.", "data.", "model.")


def strip_prefix(name: str) -> str:
    for prefix in SERVICE_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


@dataclass(frozen=True)
class Recipe:
    name: str
    recipe_arn: str
    algorithm_arn: str
    feature_transformation_arn: str
    recipe_type: str
    description: str
    hyperparameters: tuple[HyperParameter, ...] = ()
    values_type: type = field(init=False, repr=False, compare=False)
    defaults: HyperParameterValues = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        class_name = self.name.removeprefix("aws-").replace("-", "_").upper() + "HyperParameters"
        cls = values_class(class_name, __name__, self.hyperparameters)
        object.__setattr__(self, "values_type", cls)
        object.__setattr__(self, "defaults",
                           parse_values(cls, self.hyperparameters, None,
                                        {hp.name: hp.default for hp in self.hyperparameters}))

    def lookup(self, name: str) -> HyperParameter | None:
        """Find a hyperparameter by its plain name, an alias, or a service prefix (``training.bptt``)."""
        plain = strip_prefix(name)
        for hp in self.hyperparameters:
            if plain == hp.name or plain in hp.aliases:
                return hp
        return None

    def of_kind(self, kind: str) -> list[HyperParameter]:
        return [hp for hp in self.hyperparameters if hp.kind == kind]

    @property
    def tunable(self) -> list[HyperParameter]:
        return [hp for hp in self.hyperparameters if hp.tunable]

    def values(self, **typed: Any) -> HyperParameterValues:
        """The defaults with some typed values changed (each checked); ValueError names a bad one."""
        return self.defaults.replace(**typed) if typed else self.defaults

    def parse(self, wire: Mapping[str, str]) -> HyperParameterValues:
        """The defaults with values given as wire strings under plain names (each parsed once)."""
        return parse_values(self.values_type, self.hyperparameters, self.defaults, wire)

    def wire_defaults(self, kind: str | None = None) -> dict[str, str]:
        return {hp.name: hp.default for hp in self.hyperparameters if kind is None or hp.kind == kind}


HRNN_RECIPE = Recipe(
    name="aws-hrnn",
    recipe_arn="arn:aws:personalize:::recipe/aws-hrnn",
    algorithm_arn="arn:aws:personalize:::algorithm/aws-hrnn",
    feature_transformation_arn="arn:aws:personalize:::feature-transformation/JSON-percentile-filtering",
    recipe_type="USER_PERSONALIZATION",
    description=(
        "Hierarchical recurrent neural network: a session-level GRU under a user-level GRU that models "
        "changes in user behaviour and weighs recent interactions higher."
    ),
    hyperparameters=(
        HyperParameter(
            "hidden_dimension", ALGORITHM, INTEGER, "43",
            "Size of the GRU states (session and user level) and of the item embedding.",
            tunable=True, min_value=32, max_value=256,
            settings=MODEL_SETTINGS,
        ),
        HyperParameter(
            "bptt", ALGORITHM, INTEGER, "32",
            "Truncated back-propagation window: gradients flow through at most this many consecutive "
            "events of a user's sequence before the carried states are detached.",
            tunable=True, min_value=2, max_value=32,
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "recency_mask", ALGORITHM, CATEGORICAL, "true",
            "When true, newer events weigh more, to the degree that the newest interactions depart from the "
            "older ones (see the README); when false all events weigh the same.",
            tunable=True, values=("true", "false"),
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "min_user_history_length_percentile", FEATURIZATION, CONTINUOUS, "0.0",
            "Drop users whose history length is below this percentile of all users' lengths.",
            min_value=0.0, max_value=1.0, aliases=("min_hist_length_percentile",),
            settings=DATA_SETTINGS,
        ),
        HyperParameter(
            "max_user_history_length_percentile", FEATURIZATION, CONTINUOUS, "0.99",
            "Drop users whose history length is above this percentile of all users' lengths.",
            min_value=0.0, max_value=1.0, aliases=("max_hist_length_percentile",),
            settings=DATA_SETTINGS,
        ),
        HyperParameter(
            "session_timeout_minutes", FEATURIZATION, CONTINUOUS, "30",
            "A user's events split into a new session where the gap to the previous event exceeds this "
            "many minutes (extension; the service does not document its value).",
            min_value=0.0, min_exclusive=True, max_value=525600.0,
            settings=DATA_SETTINGS,
        ),
        HyperParameter(
            "recency_half_life_days", TRAINING, CONTINUOUS, "7",
            "Half-life, in days before the newest timestamp, of the recency_mask loss weight.",
            min_value=0.001, max_value=36500.0,
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "recency_floor", TRAINING, CONTINUOUS, "0.25",
            "Smallest recency_mask weight, of the oldest events; the newest weigh 1.",
            min_value=0.0, max_value=1.0,
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "learning_rate", TRAINING, CONTINUOUS, "0.05",
            "Adagrad learning rate (GRU4Rec reference default).",
            min_value=1e-6, max_value=10.0,
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "momentum", TRAINING, CONTINUOUS, "0.0",
            "Momentum of the Adagrad update (GRU4Rec reference default 0).",
            min_value=0.0, max_value=0.99,
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "epochs", TRAINING, INTEGER, "10",
            "Passes over the training users.",
            min_value=1, max_value=1000,
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "batch_size", TRAINING, INTEGER, "64",
            "User-parallel mini-batch size (number of slots).",
            min_value=1, max_value=65536,
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "num_negatives", TRAINING, INTEGER, "2048",
            "Shared popularity-sampled negatives per mini-batch, on top of the in-batch negatives.",
            min_value=0, max_value=1_000_000,
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "sample_alpha", TRAINING, CONTINUOUS, "0.5",
            "Negatives are drawn with probability proportional to popularity ** sample_alpha.",
            min_value=0.0, max_value=1.0,
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "loss", TRAINING, CATEGORICAL, "auto",
            "'sampled' softmax with logQ correction (in-batch targets plus num_negatives sampled negatives), "
            "'full' softmax over all items, or 'auto': in-batch negatives only when the catalogue has at most "
            "small_catalogue_max_items items (measured as good as the full softmax or better, and faster), "
            "else 'sampled'.",
            values=("auto", "sampled", "full"),
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "small_catalogue_max_items", TRAINING, INTEGER, "2048",
            "Catalogue size up to which loss=auto trains with the in-batch negatives alone.",
            min_value=0, max_value=10_000_000,
            settings=TRAINING_SETTINGS,
        ),
        HyperParameter(
            "dropout", TRAINING, CONTINUOUS, "0.1",
            "Dropout on the item embedding input and on the session state fed to the output layer.",
            min_value=0.0, max_value=0.9,
            settings=MODEL_SETTINGS,
        ),
        HyperParameter(
            "seed", TRAINING, INTEGER, "42",
            "Random seed for initialisation, sampling and splits.",
            min_value=0, max_value=2**31 - 1,
            settings=TRAINING_SETTINGS,
        ),
    ),
)

RECIPES: dict[str, Recipe] = {HRNN_RECIPE.recipe_arn: HRNN_RECIPE}
HRNNHyperParameters = HRNN_RECIPE.values_type  # importable by name, so the values pickle (Ray, tests)


def markdown_table(recipe: Recipe = HRNN_RECIPE) -> str:
    """The README's hyperparameter table, generated from the declaration (a test keeps the README in sync)."""
    lines = ["| name | kind | type | default | allowed | HPO tunable |", "|---|---|---|---|---|---|"]
    for hp in recipe.hyperparameters:
        aliases = f" (alias: {', '.join(f'`{a}`' for a in hp.aliases)})" if hp.aliases else ""
        lines.append(f"| `{hp.name}`{aliases} | {hp.kind} | {hp.type} | `{hp.default}` | {hp.allowed()} | "
                     f"{'yes' if hp.tunable else 'no'} |")
    return "\n".join(lines)

"""How a recipe declares a hyperparameter, the one typed object its values travel in, and the settings
derived from it.

A hyperparameter is declared once (:class:`HyperParameter`: name, kind, type, default, range, and which
settings object it belongs to). Its value is typed once: a wire string (the service sends every value as a
string) is parsed by :meth:`HyperParameter.parse` when a request is read, and from there on the value lives
in a frozen :class:`HyperParameterValues` object. Values that are already typed (a searcher's suggestion, a
test's setting) are only checked, never re-parsed.

The data, model and training settings (:class:`Settings`) get a field for every hyperparameter declared
with their ``settings`` name, made by :func:`derive_settings` from the declaration, with the declared
default; ``from_hyperparameters`` copies those values from the typed object. So a new hyperparameter is
its declaration plus its use: nothing is copied by hand.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

ALGORITHM = "algorithm"  # the recipe's documented algorithm hyperparameters
FEATURIZATION = "featurization"  # documented featurization hyperparameters (and our session timeout)
TRAINING = "training"  # advanced training options: an extension, never tunable

INTEGER = "integer"
CONTINUOUS = "continuous"
CATEGORICAL = "categorical"

BOOLEAN_VALUES = ("true", "false")

# The settings objects a hyperparameter can belong to (HyperParameter.settings).
DATA_SETTINGS = "data"  # hrnn.data.DataConfig: filters and sessions
MODEL_SETTINGS = "model"  # hrnn.model.ModelConfig: the network (saved with a model)
TRAINING_SETTINGS = "training"  # hrnn.training.TrainConfig


@dataclass(frozen=True)
class HyperParameter:
    name: str
    kind: str
    type: str
    default: str  # as on the wire
    description: str
    tunable: bool = False
    min_value: float | None = None
    max_value: float | None = None
    min_exclusive: bool = False  # the minimum itself is not allowed: (min, max]
    values: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    settings: str = ""  # DATA_SETTINGS, MODEL_SETTINGS or TRAINING_SETTINGS: where it becomes a field

    @property
    def python_type(self) -> type:
        if self.type == INTEGER:
            return int
        if self.type == CONTINUOUS:
            return float
        return bool if self.is_boolean else str

    @property
    def is_boolean(self) -> bool:
        return self.type == CATEGORICAL and self.values == BOOLEAN_VALUES

    def allowed(self) -> str:
        """Human-readable description of the allowed values, used in error messages."""
        if self.type == CATEGORICAL:
            return "one of " + ", ".join(repr(v) for v in self.values)
        kind = "an integer" if self.type == INTEGER else "a number"
        lo, hi = format_number(self.min_value), format_number(self.max_value)
        if self.min_value is not None and self.max_value is not None:
            return f"{kind} in {'(' if self.min_exclusive else '['}{lo}, {hi}]"
        if self.min_value is not None:
            return f"{kind} {'>' if self.min_exclusive else '>='} {lo}"
        return kind

    def parse(self, text: object) -> int | float | str | bool:
        """A wire value (a string) to a typed value, or ValueError naming what is allowed."""
        if not isinstance(text, str):
            raise ValueError(self.allowed())
        text = text.strip()
        if self.type == CATEGORICAL:
            low = text.lower()
            if low not in self.values:
                raise ValueError(self.allowed())
            return low == "true" if self.is_boolean else low
        try:
            number = float(text)
        except ValueError:
            raise ValueError(self.allowed()) from None
        if self.type == INTEGER:
            if not math.isfinite(number) or number != int(number):
                raise ValueError(self.allowed())
            number = int(number)
        return self.check(number)

    def check(self, value: object) -> int | float | str | bool:
        """A typed value, checked against the declaration (type and range); ValueError otherwise.

        Integral numbers (Python or numpy, as a searcher suggests them) become ``int``; real numbers of a
        continuous hyperparameter become ``float``. A string is never accepted here: parse it instead.
        """
        if self.type == CATEGORICAL:
            ok = isinstance(value, bool) if self.is_boolean else (isinstance(value, str) and value in self.values)
            if not ok:
                raise ValueError(self.allowed())
            return value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(self.allowed())
        if self.type == INTEGER:
            if not isinstance(value, numbers.Integral):
                raise ValueError(self.allowed())
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(self.allowed())
        below = self.min_value is not None and (value <= self.min_value if self.min_exclusive
                                                else value < self.min_value)
        above = self.max_value is not None and value > self.max_value
        if below or above:
            raise ValueError(self.allowed())
        return value

    def to_wire(self, value: object) -> str:
        """A typed value back to the service's string form."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if self.type == INTEGER:
            return str(int(value))
        if self.type == CONTINUOUS:
            return repr(float(value))
        return str(value)


def format_number(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)


class HyperParameterValues:
    """Base of a recipe's typed values (one frozen dataclass per recipe, a field per hyperparameter).

    Made only by :meth:`Recipe.values` and :meth:`Recipe.parse`, so every instance has every
    hyperparameter, typed and in range.
    """

    declaration: ClassVar[tuple[HyperParameter, ...]] = ()

    def replace(self, **changes: Any) -> "HyperParameterValues":
        """A copy with some values changed; each changed value is checked against its declaration."""
        by_name = {hp.name: hp for hp in self.declaration}
        unknown = sorted(set(changes) - set(by_name))
        if unknown:
            raise ValueError(f"unknown hyperparameter(s): {', '.join(unknown)}")
        checked = {}
        for name, value in changes.items():
            try:
                checked[name] = by_name[name].check(value)
            except ValueError as exc:
                raise ValueError(f"{name} = {value!r}: expected {exc}") from None
        return dataclasses.replace(self, **checked)

    def as_dict(self) -> dict[str, Any]:
        return {hp.name: getattr(self, hp.name) for hp in self.declaration}

    def to_wire(self, kind: str | None = None) -> dict[str, str]:
        """The values as the service's strings, optionally only those of one kind."""
        return {hp.name: hp.to_wire(getattr(self, hp.name)) for hp in self.declaration
                if kind is None or hp.kind == kind}


def values_class(class_name: str, module: str, declaration: tuple[HyperParameter, ...]) -> type:
    """The frozen dataclass of a declaration's typed values: one typed field per hyperparameter."""
    cls = dataclasses.make_dataclass(
        class_name, [(hp.name, hp.python_type) for hp in declaration], bases=(HyperParameterValues,),
        frozen=True, namespace={"declaration": declaration, "__module__": module},
    )
    cls.__doc__ = f"Typed values of {len(declaration)} hyperparameters: " + ", ".join(hp.name for hp in declaration)
    return cls


def parse_values(cls: type, declaration: tuple[HyperParameter, ...], defaults: HyperParameterValues | None,
                 wire: Mapping[str, str]) -> HyperParameterValues:
    """Typed values from wire strings (plain names); the rest from ``defaults``. ValueError names the field."""
    by_name = {hp.name: hp for hp in declaration}
    values = {}
    for name, text in wire.items():
        if name not in by_name:
            raise ValueError(f"unknown hyperparameter {name!r}")
        try:
            values[name] = by_name[name].parse(text)
        except ValueError as exc:
            raise ValueError(f"{name} = {text!r}: expected {exc}") from None
    if defaults is None:
        return cls(**values)
    return dataclasses.replace(defaults, **values)


class Settings:
    """Base of the settings objects (``DataConfig``, ``ModelConfig``, ``TrainConfig``): frozen dataclasses
    whose fields are the class's own (written in the class) plus the hyperparameters declared for it
    (added by :func:`derive_settings`)."""

    part: ClassVar[str] = ""
    hyperparameter_names: ClassVar[tuple[str, ...]] = ()
    own: ClassVar[type]  # the class as written, before the hyperparameters were added

    @classmethod
    def from_hyperparameters(cls, hp: HyperParameterValues, *args: Any, **own: Any):
        """Settings with the own fields given (``args`` in field order, or by name) and every hyperparameter
        field taken from ``hp``."""
        return cls(*args, **own, **{name: getattr(hp, name) for name in cls.hyperparameter_names})

    @classmethod
    def for_recipe(cls, recipe) -> type:
        """The same settings class derived from another recipe's declaration."""
        return derive_settings(recipe, cls.part)(cls.own)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def derive_settings(recipe, part: str) -> Callable[[type], type]:
    """Class decorator: the class (a :class:`Settings`) as a frozen dataclass with, after its own fields, a
    field for every hyperparameter of ``recipe`` declared with ``settings=part``, typed as declared and
    defaulting to the recipe's typed default."""

    def derive(cls: type) -> type:
        own = cls if "__dataclass_fields__" in cls.__dict__ else dataclass(frozen=True)(cls)
        declared = [hp for hp in recipe.hyperparameters if hp.settings == part]
        fields = [(hp.name, hp.python_type, dataclasses.field(default=getattr(recipe.defaults, hp.name)))
                  for hp in declared]
        derived = dataclasses.make_dataclass(
            cls.__name__, fields, bases=(own,), frozen=True,
            namespace={"part": part, "own": own, "hyperparameter_names": tuple(hp.name for hp in declared),
                       "__doc__": cls.__doc__, "__module__": cls.__module__, "__qualname__": cls.__qualname__})
        return derived

    return derive

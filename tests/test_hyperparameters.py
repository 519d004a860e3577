"""One source for every hyperparameter: declared once in the recipe, typed once from the request, and carried
unchanged to the trained model; every default the code uses is the recipe's."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil
from collections import Counter

import pytest

import hrnn
from hrnn.data import DataConfig, load_interactions
from hrnn.errors import InvalidInputException
from hrnn.hyperparameters import (CONTINUOUS, INTEGER, MODEL_SETTINGS, TRAINING, TRAINING_SETTINGS,
                                  HyperParameter)
from hrnn.model import ModelConfig
from hrnn.recipe import HRNN_RECIPE, HRNNHyperParameters
from hrnn.synth import generate_interactions, write_interactions
from hrnn.training import TrainConfig
from tuning.request import parse_create_solution

from local_ops import Local

WALKED = {"hidden_dimension": "37", "bptt": "5", "recency_mask": "false", "session_timeout_minutes": "12.5"}
REQUEST = {
    "name": "walk", "recipeArn": HRNN_RECIPE.recipe_arn, "performHPO": False,
    "solutionConfig": {"algorithmHyperParameters": {
        "hidden_dimension": WALKED["hidden_dimension"], "bptt": WALKED["bptt"],
        "recency_mask": WALKED["recency_mask"], "epochs": "1", "batch_size": "16", "num_negatives": "16"},
        "featureTransformationParameters": {"session_timeout_minutes": WALKED["session_timeout_minutes"]}},
}


@pytest.fixture(scope="module")
def interactions(tmp_path_factory):
    path = tmp_path_factory.mktemp("walk") / "interactions.csv"
    write_interactions(generate_interactions(n_users=200, n_items=120, seed=11), path)
    return path


def test_four_hyperparameters_walk_from_the_request_to_the_trained_model_typed_once(
        interactions, tmp_path, monkeypatch):
    ops = Local(tmp_path / "ws")
    workspace = ops.workspace

    parsed = Counter()
    original_parse = HyperParameter.parse

    def counting_parse(self, text):
        parsed[self.name] += 1
        return original_parse(self, text)

    seen = {}
    import tuning.version_training as sv
    original_fit = sv.fit

    def spying_fit(train, hyperparameters, **kwargs):
        seen["values"] = hyperparameters
        result = original_fit(train, hyperparameters, **kwargs)
        seen["train_config"] = result.trainer.config
        seen["model_config"] = result.model.config
        return result

    monkeypatch.setattr(HyperParameter, "parse", counting_parse)
    monkeypatch.setattr(sv, "fit", spying_fit)
    arn = ops("CreateSolution", **REQUEST)["solutionArn"]
    version_arn = ops("CreateSolutionVersion", local={"interactions": str(interactions)}, solutionArn=arn)[
        "solutionVersionArn"]

    # Typed once: each value given as a string was parsed exactly once on its way to training.
    assert {name: parsed[name] for name in WALKED} == {name: 1 for name in WALKED}
    # ... into the one typed object, which training received as it was (not as strings).
    values = seen["values"]
    assert isinstance(values, HRNNHyperParameters)
    assert (values.hidden_dimension, values.bptt, values.recency_mask, values.session_timeout_minutes) == (
        37, 5, False, 12.5)
    # Arrived unchanged: in the model, the trainer, the data and the saved model directory.
    assert seen["model_config"].hidden_dimension == 37
    assert (seen["train_config"].bptt, seen["train_config"].recency_mask) == (5, False)
    version = workspace.resolve_version(version_arn)
    info = json.loads((version.model / "model.json").read_text())
    assert info["model"]["hidden_dimension"] == 37
    assert info["session_timeout_seconds"] == 12.5 * 60
    assert (info["training"]["train_config"]["bptt"], info["training"]["train_config"]["recency_mask"]) == (5, False)
    assert {k: info["hyperparameters"][k] for k in WALKED} == {
        "hidden_dimension": "37", "bptt": "5", "recency_mask": "false", "session_timeout_minutes": "12.5"}
    sessions = load_interactions(interactions, DataConfig(session_timeout_minutes=12.5)).n_sessions
    assert info["training"]["data"]["sessions"] == sessions
    assert sessions != load_interactions(interactions).n_sessions  # the timeout mattered


def _recipe_named_fields(cls) -> dict:
    names = {hp.name for hp in HRNN_RECIPE.hyperparameters}
    return {f.name: f for f in dataclasses.fields(cls) if f.name in names}


@pytest.mark.parametrize("cls", [ModelConfig, TrainConfig, DataConfig])
def test_settings_defaults_are_the_recipes(cls):
    fields = _recipe_named_fields(cls)
    assert fields, cls
    for name, f in fields.items():
        default = getattr(HRNN_RECIPE.defaults, name)
        assert f.default == default and type(f.default) is type(default), (cls.__name__, name)


def test_every_hyperparameter_belongs_to_one_settings_object():
    homes = {"data": DataConfig, "model": ModelConfig, "training": TrainConfig}
    for hp in HRNN_RECIPE.hyperparameters:
        assert hp.settings in homes, hp.name
        assert [c for c in homes.values() if hp.name in c.hyperparameter_names] == [homes[hp.settings]], hp.name


def test_a_new_hyperparameter_is_its_declaration_plus_its_use():
    """A declared hyperparameter becomes a typed field of its settings object, with the declared default, and
    from_hyperparameters carries a request's value into it: no field or line is copied by hand."""
    scale = HyperParameter("dummy_scale", TRAINING, CONTINUOUS, "2.5", "A test's.", min_value=0.0, max_value=10.0,
                           settings=TRAINING_SETTINGS)
    width = HyperParameter("dummy_width", TRAINING, INTEGER, "3", "A test's.", min_value=1, max_value=9,
                           settings=MODEL_SETTINGS)
    recipe = dataclasses.replace(HRNN_RECIPE, hyperparameters=HRNN_RECIPE.hyperparameters + (scale, width))
    Train, Model, Data = (cls.for_recipe(recipe) for cls in (TrainConfig, ModelConfig, DataConfig))
    fields = {cls: {f.name: f for f in dataclasses.fields(cls)} for cls in (Train, Model, Data)}
    assert set(fields[Train]) == {f.name for f in dataclasses.fields(TrainConfig)} | {"dummy_scale"}
    assert set(fields[Model]) == {f.name for f in dataclasses.fields(ModelConfig)} | {"dummy_width"}
    assert set(fields[Data]) == {f.name for f in dataclasses.fields(DataConfig)}
    assert fields[Train]["dummy_scale"].default == 2.5 and fields[Train]["dummy_scale"].type is float
    assert fields[Model]["dummy_width"].default == 3 and fields[Model]["dummy_width"].type is int

    hp = recipe.parse({"dummy_scale": "4", "dummy_width": "7", "bptt": "8"})
    train = Train.from_hyperparameters(hp, "cpu")
    assert (train.dummy_scale, train.bptt, train.device) == (4.0, 8, "cpu")
    model = Model.from_hyperparameters(hp, 100, False)
    assert (model.dummy_width, model.n_items, model.hierarchical, model.hidden_dimension) == (7, 100, False, 43)
    assert model.to_dict()["dummy_width"] == 7  # saved with a model, as every model setting is
    with pytest.raises(ValueError, match="dummy_width = '12': expected an integer in \\[1, 9\\]"):
        recipe.parse({"dummy_width": "12"})


def _library_functions():
    for info in pkgutil.walk_packages(hrnn.__path__, "hrnn."):
        if info.name.endswith("__main__") or info.name.startswith("hrnn.synth"):  # a data seed, not training
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module):
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                yield obj
            elif inspect.isclass(obj):
                yield from (m for _, m in inspect.getmembers(obj, inspect.isfunction)
                            if m.__module__ == module.__name__)


def test_no_function_of_the_library_defaults_a_hyperparameter_to_another_value():
    names = {hp.name for hp in HRNN_RECIPE.hyperparameters} | {"session_timeout_seconds"}
    for function in _library_functions():
        for p in inspect.signature(function).parameters.values():
            if p.name not in names or p.default in (inspect.Parameter.empty, None) or repr(p.default) == "<factory>":
                continue  # no default, or a dataclass field made by a factory (a container, not a value)
            expected = getattr(HRNN_RECIPE.defaults, p.name, None)
            assert p.default == expected, f"{function.__qualname__}({p.name}={p.default!r}): recipe says {expected!r}"


def test_the_typed_object_refuses_wrong_types_and_ranges():
    with pytest.raises(ValueError, match="bptt"):
        HRNN_RECIPE.values(bptt=40)
    with pytest.raises(ValueError, match="recency_mask"):
        HRNN_RECIPE.values(recency_mask="true")  # a wire string is parsed, never passed as a value
    with pytest.raises(ValueError, match="hidden_dimension"):
        HRNN_RECIPE.values(hidden_dimension=40.5)
    with pytest.raises(ValueError, match="unknown"):
        HRNN_RECIPE.values(hidden=40)
    assert HRNN_RECIPE.values(learning_rate=1).learning_rate == 1.0  # integral -> float for a continuous one
    assert HRNN_RECIPE.parse({"bptt": "8"}) == HRNN_RECIPE.values(bptt=8)
    assert HRNN_RECIPE.values(bptt=8).to_wire("algorithm") == {"hidden_dimension": "43", "bptt": "8",
                                                               "recency_mask": "true"}


@pytest.mark.parametrize("text", ["0", "1e-400", "-1", "525601", "nan"])
def test_session_timeout_has_one_rule_applied_at_create_solution(text, tmp_path):
    request = {"name": "timeout", "recipeArn": HRNN_RECIPE.recipe_arn,
               "solutionConfig": {"featureTransformationParameters": {"session_timeout_minutes": text}}}
    with pytest.raises(InvalidInputException) as info:
        Local(tmp_path)("CreateSolution", **request)
    assert "session_timeout_minutes" in info.value.message and text in info.value.message
    assert "(0, 525600]" in info.value.message
    assert not (tmp_path / "solutions").exists()  # nothing registered
    assert not hasattr(DataConfig, "validate")  # the library has no second rule to disagree with


def test_the_smallest_timeout_the_rule_allows_trains(interactions):
    request = parse_create_solution({"recipeArn": HRNN_RECIPE.recipe_arn, "solutionConfig": {
        "featureTransformationParameters": {"session_timeout_minutes": "0.001"}}})
    config = DataConfig.from_hyperparameters(request.hyperparameters)
    data = load_interactions(interactions, config)
    assert data.n_sessions > load_interactions(interactions).n_sessions

"""CreateSolution request parsing: example files, every validation rule, and a fuzz test."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hrnn.errors import InvalidInputException
from hrnn.recipe import HRNN_RECIPE
from tuning.request import (
    HPOConfig,
    SearchRange,
    SolutionRequest,
    load_request,
    parse_create_solution,
)

REQUESTS = Path(__file__).resolve().parents[1] / "data" / "requests"
HPO_FILE = REQUESTS / "hpo_request.json"
NO_HPO_FILE = REQUESTS / "no_hpo_request.json"
HRNN_ARN = "arn:aws:personalize:::recipe/aws-hrnn"
RANGES = "solutionConfig.hpoConfig.algorithmHyperParameterRanges"


def hpo_request() -> dict:
    return json.loads(HPO_FILE.read_text())


def base(**config) -> dict:
    """A minimal valid request without HPO, with the given solutionConfig members."""
    request = {"recipeArn": HRNN_ARN}
    if config:
        request["solutionConfig"] = config
    return request


def hpo(ranges: dict | None = None, resources: dict | None = None, **config) -> dict:
    hpo_config = {}
    if ranges is not None:
        hpo_config["algorithmHyperParameterRanges"] = ranges
    if resources is not None:
        hpo_config["hpoResourceConfig"] = resources
    return {"recipeArn": HRNN_ARN, "performHPO": True, "solutionConfig": {"hpoConfig": hpo_config, **config}}


def rejects(request: object, *substrings: str) -> str:
    with pytest.raises(InvalidInputException) as info:
        parse_create_solution(request)
    message = info.value.message
    for s in substrings:
        assert s in message, f"{s!r} not in {message!r}"
    assert info.value.to_dict() == {"__type": "InvalidInputException", "message": message}
    return message


# --- the example files ----------------------------------------------------------------------------------


def test_hpo_example_file():
    request = parse_create_solution(load_request(str(HPO_FILE)))
    assert request.name == "hrnn-hpo-example"
    assert request.recipe is HRNN_RECIPE
    assert request.perform_hpo is True and request.perform_automl is False
    assert request.dataset_group_arn == "arn:aws:personalize:us-east-1:123456789012:dataset-group/hrnn-example"
    assert request.event_type is None
    assert request.event_value_threshold is None
    assert request.hyperparameters.hidden_dimension == 55
    hpo_config = request.hpo
    assert isinstance(hpo_config, HPOConfig)
    assert (hpo_config.objective_metric, hpo_config.objective_type, hpo_config.mode) == (
        "normalized_discounted_cumulative_gain_at_10", "Maximize", "max")  # the default, by measurement
    assert (hpo_config.max_number_of_training_jobs, hpo_config.max_parallel_training_jobs) == (4, 2)
    by_name = {r.name: r for r in hpo_config.ranges}
    assert set(by_name) == {"bptt", "recency_mask"}
    bptt = by_name["bptt"]
    assert (bptt.type, bptt.min_value, bptt.max_value) == ("integer", 8, 32)
    assert isinstance(bptt.min_value, int) and bptt.hp is HRNN_RECIPE.lookup("bptt")
    assert by_name["recency_mask"].type == "categorical"
    assert by_name["recency_mask"].values == (True, False)
    assert request.solution_config == hpo_request()["solutionConfig"]
    assert request.raw == hpo_request()


def test_hpo_example_fills_defaults():
    request = parse_create_solution(hpo_request())
    assert set(request.hyperparameters.as_dict()) == {hp.name for hp in HRNN_RECIPE.hyperparameters}
    for hp in HRNN_RECIPE.hyperparameters:
        if hp.name != "hidden_dimension":
            assert getattr(request.hyperparameters, hp.name) == hp.parse(hp.default)
    assert request.hyperparameters.bptt == 32
    assert request.hyperparameters.recency_mask is True
    assert request.hyperparameters.max_user_history_length_percentile == 0.99
    assert request.algorithm_hyperparameters_wire() == {
        "hidden_dimension": "55", "bptt": "32", "recency_mask": "true"}


def test_no_hpo_example_file():
    request = parse_create_solution(load_request(f"file://{NO_HPO_FILE}"))
    assert request.perform_hpo is False and request.hpo is None
    assert request.hyperparameters.hidden_dimension == 64
    assert request.hyperparameters.bptt == 16
    assert request.hyperparameters.recency_mask is True
    assert request.algorithm_hyperparameters_wire() == {
        "hidden_dimension": "64", "bptt": "16", "recency_mask": "true"}


def test_minimal_request_defaults():
    request = parse_create_solution(base())
    assert request.name == "hrnn-solution"
    assert request.hpo is None and request.solution_config == {}
    assert request.algorithm_hyperparameters_wire() == HRNN_RECIPE.wire_defaults("algorithm")


def test_optional_members_accepted():
    arn = "arn:aws:personalize:us-west-2:000000000000:dataset-group/hpo"
    request = parse_create_solution({
        **base(eventValueThreshold="0.5"), "name": "my_solution-1", "datasetGroupArn": arn,
        "eventType": "click", "performIncrementalUpdate": False, "performAutoML": False,
        "tags": [{"tagKey": "team", "tagValue": "recs"}], "solutionConfig": {"eventValueThreshold": "0.5"},
    })
    assert (request.name, request.dataset_group_arn, request.event_type) == ("my_solution-1", arn, "click")
    assert request.event_value_threshold == 0.5


def test_null_counts_as_absent():
    request = parse_create_solution({**base(), "name": None, "performHPO": None, "solutionConfig": None})
    assert request.name == "hrnn-solution" and request.perform_hpo is False


# --- load_request ------------------------------------------------------------------------------------------


def test_load_request_sources(tmp_path):
    path = tmp_path / "req.json"
    path.write_text(json.dumps(base()))
    assert load_request(str(path)) == base()
    assert load_request(f"file://{path}") == base()
    assert load_request(json.dumps(base())) == base()
    assert load_request("  " + json.dumps(base())) == base()


def test_load_request_errors(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(InvalidInputException, match="nope.json.*no such file"):
        load_request(f"file://{missing}")
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "recipeArn": "x",\n  oops\n}')
    with pytest.raises(InvalidInputException, match=r"bad.json.*line 3, column 3"):
        load_request(str(bad))
    with pytest.raises(InvalidInputException, match="inline request JSON.*line 1"):
        load_request('{"a": }')
    top = tmp_path / "list.json"
    top.write_text("[1, 2]")
    with pytest.raises(InvalidInputException, match="list.json.*must be a JSON object.*array"):
        load_request(str(top))
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InvalidInputException, match="bin.json"):
        load_request(str(binary))
    with pytest.raises(InvalidInputException, match="is a directory"):
        load_request(str(tmp_path))
    with pytest.raises(InvalidInputException):
        load_request("")
    with pytest.raises(InvalidInputException):
        load_request("{" + "[" * 100000)
    with pytest.raises(InvalidInputException, match="Cannot parse JSON"):
        load_request('{"a": ' + "9" * 5000 + "}")


# --- top level ------------------------------------------------------------------------------------------


def test_not_an_object():
    rejects([1, 2], "request", "[1, 2]", "JSON object")
    rejects("x", "request", '"x"', "JSON object")


def test_unknown_top_level_member():
    rejects({**base(), "performAutoTrain": True}, '"performAutoTrain"', "allowed members", "recipeArn",
            "solutionConfig", "performAutoTraining")


def test_auto_training_refused():
    """performAutoTraining is a botocore member: accepted as false, refused with a reason when true."""
    parse_create_solution({**base(), "performAutoTraining": False})
    rejects({**base(), "performAutoTraining": True}, "performAutoTraining = true",
            "automatic training is not supported", "set it to false")
    rejects({**base(), "performAutoTraining": "no"}, "performAutoTraining", '"no"', "JSON boolean")


@pytest.mark.parametrize("field,value,expected", [
    ("performHPO", "yes", "JSON boolean"),
    ("performAutoML", 1, "JSON boolean"),
    ("solutionConfig", [1], "JSON object"),
    ("name", 5, "JSON string"),
    ("eventType", ["click"], "JSON string"),
    ("tags", {"a": "b"}, "JSON array"),
    ("recipeArn", True, "JSON string"),
])
def test_wrong_json_types(field, value, expected):
    rejects({**base(), field: value}, field, json.dumps(value), expected)


def test_long_values_are_truncated_in_messages():
    message = rejects({**base(), "performHPO": "y" * 100_000}, "performHPO", "yyyy", "...")
    assert len(message) < 400


def test_name_rules():
    rejects({**base(), "name": "-bad"}, "name", '"-bad"')
    rejects({**base(), "name": "a" * 64}, "name", "63")
    rejects({**base(), "name": ""}, "name")
    rejects({**base(), "name": "has space"}, "name", "has space")


def test_dataset_group_arn_rules():
    rejects({**base(), "datasetGroupArn": "not-an-arn"}, "datasetGroupArn", "not-an-arn")
    long_arn = "arn:aws:personalize:us-west-2:0:" + "x" * 300
    rejects({**base(), "datasetGroupArn": long_arn}, "datasetGroupArn", "256")


def test_event_type_rules():
    rejects({**base(), "eventType": "e" * 257}, "eventType", "256")
    rejects({**base(), "eventType": ""}, "eventType")


def test_tags_rules():
    rejects({**base(), "tags": [{"tagKey": "k"}]}, "tags[0]", "tagValue")
    rejects({**base(), "tags": [{"tagKey": "k", "tagValue": "v", "x": 1}]}, "tags[0]", '"x"')
    rejects({**base(), "tags": [{"tagKey": "", "tagValue": "v"}]}, "tags[0].tagKey")
    rejects({**base(), "tags": [{"tagKey": "k", "tagValue": "v"}] * 201}, "tags", "200")


def test_tag_pattern_and_sensitive_values():
    parse_create_solution({**base(), "tags": [{"tagKey": "équipe 1", "tagValue": ""}]})
    message = rejects({**base(), "tags": [{"tagKey": "k", "tagValue": "a!secret"}]}, "tags[0].tagValue",
                      "<sensitive value>", "at most 256 characters matching")
    assert "a!secret" not in message


def test_deep_nesting_is_an_invalid_input():
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    rejects({**base(), "extra": deep}, '"extra"', "allowed members")
    rejects(base(algorithmHyperParameters={"bptt": deep}), "algorithmHyperParameters.bptt", "JSON string")
    rejects(base(eventsConfig={"eventParametersList": deep}), "solutionConfig.eventsConfig", "aws-hrnn")
    rejects({"performAutoML": True, "solutionConfig": {"eventsConfig": {"eventParametersList": deep}}},
            "solutionConfig.eventsConfig.eventParametersList[0]", "JSON object")


def test_envelope_is_checked_even_where_members_are_ignored():
    """performHPO false ignores hpoConfig and AutoML ignores most of solutionConfig, but both must be well-formed."""
    request = hpo(resources={"maxNumberOfTrainingJobs": 4})
    request["performHPO"] = False
    rejects(request, "maxNumberOfTrainingJobs = 4", "JSON string")
    rejects({"performAutoML": True, "solutionConfig": {"optimizationObjective": {"objectiveSensitivity": "MAX"}}},
            "solutionConfig.optimizationObjective.objectiveSensitivity", '"MAX"', "LOW, MEDIUM, HIGH, OFF")
    rejects({"performAutoML": True, "solutionConfig": {"algorithmHyperParameters": {"bptt": 32}}},
            "algorithmHyperParameters.bptt", "JSON string")


def test_incremental_update_rejected():
    rejects({**base(), "performIncrementalUpdate": True}, "performIncrementalUpdate", "true")


# --- recipe / AutoML --------------------------------------------------------------------------------------


def test_unknown_recipe():
    arn = "arn:aws:personalize:::recipe/aws-hrnn-metadata"
    rejects({"recipeArn": arn}, "recipeArn", arn, "implemented", HRNN_ARN)


def test_recipe_or_automl_required():
    rejects({}, "recipeArn", "performAutoML")
    rejects({"recipeArn": HRNN_ARN, "performAutoML": True}, "recipeArn", "not both")


def test_automl_defaults():
    request = parse_create_solution({"performAutoML": True})
    assert request.perform_automl and request.perform_hpo and request.recipe is HRNN_RECIPE
    assert request.hpo.objective_metric == "normalized_discounted_cumulative_gain_at_10" and request.hpo.mode == "max"
    assert {r.name for r in request.hpo.ranges} == {"hidden_dimension", "bptt", "recency_mask"}
    assert (request.hpo.max_number_of_training_jobs, request.hpo.max_parallel_training_jobs) == (4, 2)


def test_automl_config_and_ignored_members():
    request = parse_create_solution({"performAutoML": True, "eventType": "click", "solutionConfig": {
        "autoMLConfig": {"metricName": "coverage", "recipeList": [HRNN_ARN]},
        "algorithmHyperParameters": {"bptt": "999"},
        "optimizationObjective": {"itemAttribute": "PRICE"},
        "eventValueThreshold": "nope",
    }})
    assert request.hpo.objective_metric == "coverage"
    assert request.hyperparameters.bptt == 32 and request.event_value_threshold is None
    assert request.event_type == "click"


def test_automl_errors():
    other = "arn:aws:personalize:::recipe/aws-user-personalization"
    rejects({"performAutoML": True, "solutionConfig": {"autoMLConfig": {"recipeList": [HRNN_ARN, other]}}},
            "recipeList[1]", other, "implemented")
    rejects({"performAutoML": True, "solutionConfig": {"autoMLConfig": {"metricName": "recall"}}},
            "autoMLConfig.metricName", "recall", "precision_at_25")
    rejects({"performAutoML": True, "solutionConfig": {"autoMLConfig": {"recipeList": []}}}, "recipeList")
    rejects({"performAutoML": True, "performHPO": False}, "performHPO", "AutoML")
    rejects({"performAutoML": True, "solutionConfig": {"bogus": 1}}, '"bogus"', "allowed members")


# --- solutionConfig members ------------------------------------------------------------------------------


def test_unknown_solution_config_member():
    rejects(base(hpoconfig={}), "solutionConfig", '"hpoconfig"', "allowed members", "hpoConfig")


@pytest.mark.parametrize("member,reason", [
    ("optimizationObjective", "User-Personalization"),
    ("eventsConfig", "aws-hrnn"),
    ("trainingDataConfig", "aws-hrnn"),
    ("autoTrainingConfig", "aws-hrnn"),
])
def test_unsupported_members(member, reason):
    rejects(base(**{member: {"x": "y"}}), f"solutionConfig.{member}", reason)


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "", "1e999"])
def test_event_value_threshold_must_be_finite_number(value):
    rejects(base(eventValueThreshold=value), "solutionConfig.eventValueThreshold", json.dumps(value))


def test_event_value_threshold_must_be_string():
    rejects(base(eventValueThreshold=0.5), "solutionConfig.eventValueThreshold", "0.5", "JSON string")


# --- fixed hyperparameters ---------------------------------------------------------------------------------


def test_prefixed_aliases_and_featurization_in_either_map():
    request = parse_create_solution(base(
        algorithmHyperParameters={"training.bptt": "8", "min_hist_length_percentile": "0.05",
                                  "learning_rate": "0.1", "recency_mask": "False"},
        featureTransformationParameters={"max_hist_length_percentile": "0.9"},
    ))
    hps = request.hyperparameters
    assert hps.bptt == 8 and hps.recency_mask is False and hps.learning_rate == 0.1
    assert hps.min_user_history_length_percentile == 0.05
    assert hps.max_user_history_length_percentile == 0.9
    assert request.solution_config["algorithmHyperParameters"]["training.bptt"] == "8"


def test_unknown_hyperparameter_name():
    rejects(base(algorithmHyperParameters={"hidden_dim": "55"}), "algorithmHyperParameters", '"hidden_dim"',
            "hidden_dimension", "learning_rate")
    message = rejects(base(featureTransformationParameters={"bptt": "8"}), "featureTransformationParameters",
                      '"bptt"', "algorithmHyperParameters", "min_user_history_length_percentile")
    assert "learning_rate" not in message


@pytest.mark.parametrize("key,value,allowed", [
    ("bptt", "40", "an integer in [2, 32]"),
    ("hidden_dimension", "55.5", "an integer in [32, 256]"),
    ("recency_mask", "maybe", "one of 'true', 'false'"),
    ("min_user_history_length_percentile", "1.5", "a number in [0, 1]"),
    ("learning_rate", "nan", "a number in"),
])
def test_bad_hyperparameter_value(key, value, allowed):
    rejects(base(algorithmHyperParameters={key: value}), f"solutionConfig.algorithmHyperParameters.{key}",
            json.dumps(value), allowed)


@pytest.mark.parametrize("member", ["featureTransformationParameters", "algorithmHyperParameters"])
@pytest.mark.parametrize("value", ["0", "1e-400", "-1", "0.0", "525601"])
def test_session_timeout_minutes_has_the_recipes_one_rule(member, value):
    """Exclusive minimum 0, declared once in the recipe: "1e-400" is 0.0 once typed, so it is refused too."""
    rejects(base(**{member: {"session_timeout_minutes": value}}),
            f"solutionConfig.{member}.session_timeout_minutes = {json.dumps(value)} is invalid",
            "session_timeout_minutes must be a number in (0, 525600]")


def test_session_timeout_minutes_accepts_its_range():
    for value, typed in (("1e-3", 0.001), ("30", 30.0), ("525600", 525600.0)):
        request = parse_create_solution(base(featureTransformationParameters={"session_timeout_minutes": value}))
        assert request.hyperparameters.session_timeout_minutes == typed


def test_hyperparameter_value_must_be_string():
    rejects(base(algorithmHyperParameters={"bptt": 8}), "algorithmHyperParameters.bptt", "8", "JSON string")


def test_map_limits():
    rejects(base(algorithmHyperParameters={f"k{i}": "1" for i in range(101)}), "algorithmHyperParameters", "100")
    rejects(base(algorithmHyperParameters={"bptt": "1" * 1001}), "algorithmHyperParameters.bptt", "1000")
    rejects(base(algorithmHyperParameters={"k" * 300: "1"}), "algorithmHyperParameters", "256")


def test_same_hyperparameter_twice():
    rejects(base(algorithmHyperParameters={"bptt": "8", "training.bptt": "9"}), '"training.bptt"', "already")
    rejects(base(algorithmHyperParameters={"min_user_history_length_percentile": "0.1"},
                 featureTransformationParameters={"min_hist_length_percentile": "0.2"}),
            "min_hist_length_percentile", "already")


def test_percentile_bounds_ordered():
    rejects(base(featureTransformationParameters={"min_user_history_length_percentile": "0.8",
                                                  "max_user_history_length_percentile": "0.5"}),
            "min_user_history_length_percentile", "0.8", "0.5", "<=")
    rejects(base(featureTransformationParameters={"min_hist_length_percentile": "0.995"}), "0.995", "0.99")
    parse_create_solution(base(featureTransformationParameters={"min_hist_length_percentile": "0.99"}))


# --- hpoConfig ---------------------------------------------------------------------------------------------


def test_resource_defaults_and_limits():
    assert parse_create_solution(hpo()).hpo.max_number_of_training_jobs == 4
    assert parse_create_solution(hpo()).hpo.max_parallel_training_jobs == 2
    one = parse_create_solution(hpo(resources={"maxNumberOfTrainingJobs": "1"})).hpo
    assert (one.max_number_of_training_jobs, one.max_parallel_training_jobs) == (1, 1)
    full = parse_create_solution(hpo(resources={"maxNumberOfTrainingJobs": "40",
                                                "maxParallelTrainingJobs": "10"})).hpo
    assert (full.max_number_of_training_jobs, full.max_parallel_training_jobs) == (40, 10)
    path = "solutionConfig.hpoConfig.hpoResourceConfig"
    rejects(hpo(resources={"maxNumberOfTrainingJobs": "41"}), f"{path}.maxNumberOfTrainingJobs", '"41"', "40")
    rejects(hpo(resources={"maxParallelTrainingJobs": "0"}), f"{path}.maxParallelTrainingJobs", '"0"', "10")
    rejects(hpo(resources={"maxNumberOfTrainingJobs": "four"}), "maxNumberOfTrainingJobs", "four")
    rejects(hpo(resources={"maxNumberOfTrainingJobs": 4}), "maxNumberOfTrainingJobs", "JSON string")
    rejects(hpo(resources={"maxNumberOfTrainingJobs": "3", "maxParallelTrainingJobs": "5"}),
            "maxParallelTrainingJobs", '"5"', "(3)")
    rejects(hpo(resources={"maxJobs": "3"}), path, '"maxJobs"')


def test_objective():
    request = hpo()
    request["solutionConfig"]["hpoConfig"]["hpoObjective"] = {
        "metricName": "normalized_discounted_cumulative_gain_at_10", "type": "Minimize", "metricRegex": "x"}
    config = parse_create_solution(request).hpo
    assert config.objective_metric == "normalized_discounted_cumulative_gain_at_10" and config.mode == "min"
    request["solutionConfig"]["hpoConfig"]["hpoObjective"] = {"metricName": "auc"}
    rejects(request, "hpoObjective.metricName", '"auc"', "precision_at_25", "coverage")
    request["solutionConfig"]["hpoConfig"]["hpoObjective"] = {"type": "float"}
    rejects(request, "hpoObjective.type", '"float"', "Maximize", "Minimize")


def test_no_ranges_searches_all_tunables():
    for request in (hpo(), hpo(ranges={}), {"recipeArn": HRNN_ARN, "performHPO": True},
                    hpo(ranges={"integerHyperParameterRanges": [], "continuousHyperParameterRanges": []})):
        ranges = {r.name: r for r in parse_create_solution(request).hpo.ranges}
        assert set(ranges) == {hp.name for hp in HRNN_RECIPE.tunable} == {
            "hidden_dimension", "bptt", "recency_mask"}
        assert (ranges["hidden_dimension"].min_value, ranges["hidden_dimension"].max_value) == (32, 256)
        assert (ranges["bptt"].min_value, ranges["bptt"].max_value) == (2, 32)
        assert ranges["recency_mask"].values == (True, False)


def test_default_ranges_skip_fixed_tunables():
    ranges = parse_create_solution(hpo(algorithmHyperParameters={"hidden_dimension": "55"})).hpo.ranges
    assert {r.name for r in ranges} == {"bptt", "recency_mask"}
    rejects(hpo(algorithmHyperParameters={"hidden_dimension": "55", "bptt": "8", "recency_mask": "true"}),
            "nothing to tune")


def test_hpo_config_ignored_without_perform_hpo():
    request = hpo(ranges={"integerHyperParameterRanges": [{"name": "bptt", "minValue": 20, "maxValue": 40}]})
    request["performHPO"] = False
    parsed = parse_create_solution(request)
    assert parsed.hpo is None and parsed.perform_hpo is False
    assert parsed.solution_config["hpoConfig"] == request["solutionConfig"]["hpoConfig"]


def test_prefixed_range_names_echoed():
    config = parse_create_solution(hpo(ranges={
        "integerHyperParameterRanges": [{"name": "training.bptt", "minValue": 4, "maxValue": 8}],
        "categoricalHyperParameterRanges": [{"name": "data.recency_mask", "values": ["TRUE", "true", "False"]}],
    })).hpo
    by_name = {r.name: r for r in config.ranges}
    assert set(by_name) == {"training.bptt", "data.recency_mask"}
    assert by_name["training.bptt"].hp.name == "bptt"
    assert by_name["data.recency_mask"].values == (True, False)


def test_seed_range_outside_documented_bounds():
    rejects(hpo(ranges={"integerHyperParameterRanges": [{"name": "bptt", "minValue": 20, "maxValue": 40}]}),
            f"{RANGES}.integerHyperParameterRanges[0].maxValue", "40", "bptt", "[2, 32]")
    rejects(hpo(ranges={"integerHyperParameterRanges": [{"name": "hidden_dimension", "minValue": 16,
                                                          "maxValue": 64}]}),
            "integerHyperParameterRanges[0].minValue", "16", "[32, 256]")


def test_range_for_untunable_or_unknown_name():
    tunable = ("hidden_dimension (integer in [32, 256]), bptt (integer in [2, 32]), "
               "recency_mask (one of 'true', 'false')")
    rejects(hpo(ranges={"integerHyperParameterRanges": [{"name": "epochs", "minValue": 1, "maxValue": 5}]}),
            f"{RANGES}.integerHyperParameterRanges[0].name", '"epochs"', tunable)
    rejects(hpo(ranges={"continuousHyperParameterRanges": [{"name": "foo", "minValue": 0.1, "maxValue": 1}]}),
            "continuousHyperParameterRanges[0].name", '"foo"', tunable)


def test_range_list_type_must_match():
    rejects(hpo(ranges={"categoricalHyperParameterRanges": [{"name": "bptt", "values": ["2"]}]}),
            "categoricalHyperParameterRanges[0].name", '"bptt"', "integerHyperParameterRanges")
    rejects(hpo(ranges={"integerHyperParameterRanges": [{"name": "recency_mask", "minValue": 0, "maxValue": 1}]}),
            "integerHyperParameterRanges[0].name", "recency_mask", "categoricalHyperParameterRanges")
    rejects(hpo(ranges={"continuousHyperParameterRanges": [{"name": "bptt", "minValue": 2.0, "maxValue": 4.0}]}),
            "continuousHyperParameterRanges[0].name", "bptt", "integer")


@pytest.mark.parametrize("bound", [True, 8.0, "8", None])
def test_integer_bounds_must_be_json_integers(bound):
    item = {"name": "bptt", "minValue": bound, "maxValue": 16}
    message = rejects(hpo(ranges={"integerHyperParameterRanges": [item]}), "integerHyperParameterRanges[0]",
                      "minValue")
    if bound is not None:
        assert json.dumps(bound) in message and "JSON integer" in message


def test_huge_integer_bound():
    """botocore's IntegerMaxValue (at most 1000000) refuses it before the recipe's range is consulted."""
    rejects(hpo(ranges={"integerHyperParameterRanges": [{"name": "bptt", "minValue": 2, "maxValue": 10**5000}]}),
            "maxValue", "integer of", "JSON integer <= 1000000")
    rejects(hpo(ranges={"integerHyperParameterRanges": [{"name": "bptt", "minValue": -10**5000, "maxValue": 4}]}),
            "minValue", "integer of", "JSON integer >= -1000000")


def test_min_greater_than_max():
    rejects(hpo(ranges={"integerHyperParameterRanges": [{"name": "bptt", "minValue": 16, "maxValue": 8}]}),
            "integerHyperParameterRanges[0].minValue", "16", "8")


def test_categorical_values():
    path = f"{RANGES}.categoricalHyperParameterRanges[0]"
    rejects(hpo(ranges={"categoricalHyperParameterRanges": [{"name": "recency_mask", "values": []}]}),
            f"{path}.values", "[]")
    rejects(hpo(ranges={"categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["yes"]}]}),
            f"{path}.values[0]", '"yes"', "one of 'true', 'false'")
    rejects(hpo(ranges={"categoricalHyperParameterRanges": [{"name": "recency_mask", "values": [True]}]}),
            f"{path}.values[0]", "true", "JSON string")
    rejects(hpo(ranges={"categoricalHyperParameterRanges": [{"name": "recency_mask"}]}), path, "values")


def test_range_members():
    rejects(hpo(ranges={"integerHyperParameterRanges": [{"name": "bptt", "minValue": 2, "maxValue": 4,
                                                         "step": 1}]}),
            "integerHyperParameterRanges[0]", '"step"', "minValue")
    rejects(hpo(ranges={"integerHyperParameterRanges": {"name": "bptt"}}), "integerHyperParameterRanges",
            "JSON array")
    rejects(hpo(ranges={"integerHyperParameterRanges": ["bptt"]}), "integerHyperParameterRanges[0]", '"bptt"')
    rejects(hpo(ranges={"integerRanges": []}), RANGES, '"integerRanges"')
    many = [{"name": "bptt", "minValue": 2, "maxValue": 4}] * 101
    rejects(hpo(ranges={"integerHyperParameterRanges": many}), "integerHyperParameterRanges", "100")


def test_same_hyperparameter_ranged_twice():
    rejects(hpo(ranges={"integerHyperParameterRanges": [{"name": "bptt", "minValue": 2, "maxValue": 4},
                                                        {"name": "training.bptt", "minValue": 5, "maxValue": 6}]}),
            "integerHyperParameterRanges[1].name", "training.bptt", "already ranged")


def test_fixed_and_ranged_is_rejected():
    rejects(hpo(ranges={"integerHyperParameterRanges": [{"name": "bptt", "minValue": 2, "maxValue": 4}]},
                algorithmHyperParameters={"bptt": "16"}),
            "integerHyperParameterRanges[0].name", "bptt", "algorithmHyperParameters.bptt", '"16"')


def test_unknown_hpo_config_member():
    rejects({"recipeArn": HRNN_ARN, "performHPO": True, "solutionConfig": {"hpoConfig": {"strategy": "bayes"}}},
            "solutionConfig.hpoConfig", '"strategy"', "hpoResourceConfig")


# --- fuzzing ---------------------------------------------------------------------------------------------

FIELD_NAMES = [
    "name", "datasetGroupArn", "recipeArn", "performHPO", "performAutoML", "performIncrementalUpdate",
    "eventType", "solutionConfig", "tags", "tagKey", "tagValue", "eventValueThreshold", "hpoConfig",
    "algorithmHyperParameters", "featureTransformationParameters", "autoMLConfig", "metricName",
    "recipeList", "optimizationObjective", "eventsConfig", "hpoObjective", "type", "metricRegex",
    "hpoResourceConfig", "maxNumberOfTrainingJobs", "maxParallelTrainingJobs",
    "algorithmHyperParameterRanges", "integerHyperParameterRanges", "continuousHyperParameterRanges",
    "categoricalHyperParameterRanges", "minValue", "maxValue", "values",
    *[hp.name for hp in HRNN_RECIPE.hyperparameters], "training.bptt", "min_hist_length_percentile",
]
STRINGS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(FIELD_NAMES + [HRNN_ARN, "true", "false", "4", "0.5", "nan", "1e999", "-1", "precision_at_25",
                                   "Maximize"]),
    st.just("x" * 100_000),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**64, -(2**63), 10**4000, -(10**4000), 0, 2, 32, 40]),
    st.floats(allow_nan=True, allow_infinity=True),
    STRINGS,
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10)), children, max_size=4),
    ),
    max_leaves=12,
)


def _containers(obj, path=()):
    """Every (path, container) in obj, the root included."""
    yield path, obj
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        if isinstance(value, (dict, list)):
            yield from _containers(value, path + (key,))


@st.composite
def mutated_requests(draw):
    request = copy.deepcopy(hpo_request())
    for _ in range(draw(st.integers(1, 3))):
        containers = list(_containers(request))
        _, target = draw(st.sampled_from(containers))
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        keys = list(target.keys()) if isinstance(target, dict) else list(range(len(target)))
        if action == "insert" or not keys:
            if isinstance(target, dict):
                target[draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=8))] = draw(JSON)
            else:
                target.append(draw(JSON))
        elif action == "delete":
            del target[draw(st.sampled_from(keys))]
        else:
            target[draw(st.sampled_from(keys))] = draw(JSON)
    return request


def _parse_or_invalid(obj):
    try:
        result = parse_create_solution(obj)
    except InvalidInputException as exc:
        assert isinstance(exc.message, str) and exc.message
        return
    assert isinstance(result, SolutionRequest)
    assert all(isinstance(r, SearchRange) for r in (result.hpo.ranges if result.hpo else ()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON | st.dictionaries(st.sampled_from(FIELD_NAMES), JSON, max_size=6))
@pytest.mark.slow
def test_fuzz_arbitrary_json(obj):
    _parse_or_invalid(obj)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_requests())
def test_fuzz_mutated_example(obj):
    _parse_or_invalid(obj)


def test_continuous_ranges_for_a_recipe_that_has_one(monkeypatch):
    """aws-hrnn has no continuous tunable; the generic path is checked with a derived recipe."""
    import dataclasses

    from hrnn.recipe import RECIPES
    dropout = dataclasses.replace(HRNN_RECIPE.lookup("dropout"), tunable=True)
    recipe = dataclasses.replace(
        HRNN_RECIPE, recipe_arn="arn:aws:personalize:::recipe/test",
        hyperparameters=tuple(dropout if hp.name == "dropout" else hp for hp in HRNN_RECIPE.hyperparameters))
    monkeypatch.setitem(RECIPES, recipe.recipe_arn, recipe)

    def with_range(low, high):
        return {"recipeArn": recipe.recipe_arn, "performHPO": True, "solutionConfig": {"hpoConfig": {
            "algorithmHyperParameterRanges": {"continuousHyperParameterRanges": [
                {"name": "model.dropout", "minValue": low, "maxValue": high}]}}}}

    (search_range,) = parse_create_solution(with_range(0, 0.5)).hpo.ranges
    assert (search_range.name, search_range.type, search_range.min_value, search_range.max_value) == (
        "model.dropout", "continuous", 0.0, 0.5)
    assert isinstance(search_range.min_value, float)
    rejects(with_range(0.0, float("nan")), "continuousHyperParameterRanges[0].maxValue", "nan", "finite")
    rejects(with_range(False, 0.5), "continuousHyperParameterRanges[0].minValue", "false", "JSON number")
    rejects(with_range(0.0, 10**5000), "continuousHyperParameterRanges[0].maxValue", "integer of", "finite")
    rejects(with_range(0.0, 0.95), "maxValue", "0.95", "[0, 0.9]")
    default = parse_create_solution({"recipeArn": recipe.recipe_arn, "performHPO": True}).hpo.ranges
    assert {r.name for r in default} == {"hidden_dimension", "bptt", "recency_mask", "dropout"}

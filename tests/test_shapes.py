"""The shape validator on hand-made shapes, Java pattern translation, and the CreateSolution table against
the installed botocore model."""

from __future__ import annotations

import copy
import json

import pytest
from botocore.loaders import Loader

from hrnn.errors import InvalidInputException
from tuning.contract import shapes
from tuning.contract import table as merged_table
from tuning.request.envelope import AUTOML_LIFTS_REFUSALS_IN, OVERLAY, REQUEST_SHAPE
from tuning.shapes import (MAX_DEPTH, NARROWING, ShapeError, compile_pattern, effective_shape, join_path, show,
                           validate)


def service_shapes() -> dict:
    return shapes("personalize")


def table(automl: bool = False) -> dict:
    return merged_table("personalize", automl)


SHAPES = {
    "Root": {"type": "structure", "required": ["id"], "members": {
        "id": {"shape": "Id"},
        "count": {"shape": "Count"},
        "ratio": {"shape": "Ratio"},
        "flag": {"shape": "Flag"},
        "color": {"shape": "Color"},
        "items": {"shape": "Items"},
        "attrs": {"shape": "Attrs"},
        "child": {"shape": "Child"},
        "when": {"shape": "When"},
        "data": {"shape": "Data"},
        "secret": {"shape": "Secret"},
        "tree": {"shape": "Node"},
        "narrow": {"shape": "Id", "max": 2, "hint": "two at most"},
        "gone": {"shape": "Flag", "refused": "not here, ever"},
        "off": {"shape": "Flag", "const": False, "reason": "must stay off"},
    }},
    "Id": {"type": "string", "min": 1, "max": 5, "pattern": "^[a-z][a-z\\d]*$"},
    "Count": {"type": "integer", "min": 1, "max": 10},
    "Ratio": {"type": "double", "min": 0, "max": 1},
    "Flag": {"type": "boolean"},
    "Color": {"type": "string", "enum": ["RED", "BLUE"]},
    "Items": {"type": "list", "min": 1, "max": 3, "member": {"shape": "Id"}},
    "Attrs": {"type": "map", "max": 2, "key": {"shape": "Id"}, "value": {"shape": "Count"}},
    "Child": {"type": "structure", "required": ["id"], "members": {"id": {"shape": "Id"}}},
    "When": {"type": "timestamp"},
    "Data": {"type": "blob", "max": 4},
    "Secret": {"type": "string", "max": 3, "sensitive": True},
    "Node": {"type": "structure", "members": {"kids": {"shape": "Nodes"}}},
    "Nodes": {"type": "list", "member": {"shape": "Node"}},
    "Choice": {"type": "structure", "union": True, "members": {"a": {"shape": "Flag"}, "b": {"shape": "Flag"}}},
}


def check(value: object, shape: str = "Root") -> None:
    validate(SHAPES, shape, value)


def refuses(value: object, *substrings: str, shape: str = "Root") -> str:
    with pytest.raises(InvalidInputException) as info:
        check(value, shape)
    message = info.value.message
    for s in substrings:
        assert s in message, f"{s!r} not in {message!r}"
    return message


def deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


# --- the validator -----------------------------------------------------------------------------------------


def test_valid_value_passes():
    check({"id": "a1", "count": 10, "ratio": 0.5, "flag": True, "color": "RED", "items": ["a", "b"],
           "attrs": {"k": 1}, "child": {"id": "c"}, "when": 1700000000, "data": "AAE=", "secret": "abc",
           "tree": {"kids": [{"kids": []}]}, "narrow": "ab", "off": False})
    check({"id": "a", "when": "2024-01-01T00:00:00Z"})


@pytest.mark.parametrize("member,value,expected", [
    ("id", 5, "expected a JSON string, got integer"),
    ("count", "5", "expected a JSON integer, got string"),
    ("count", True, "expected a JSON integer, got boolean"),
    ("count", 5.0, "expected a JSON integer, got number"),
    ("ratio", "0.5", "expected a finite JSON number, got string"),
    ("ratio", float("nan"), "got non-finite number"),
    pytest.param("ratio", 10**5000, "finite JSON number", id="huge-int-as-double"),
    ("flag", 1, "expected a JSON boolean (true or false), got integer"),
    ("items", "a", "expected a JSON array, got string"),
    ("attrs", [], "expected a JSON object, got array"),
    ("child", "c", "expected a JSON object, got string"),
    ("when", "yesterday", "timestamp"),
    ("when", True, "timestamp"),
    ("data", "not base64!", "base64"),
])
def test_type(member, value, expected):
    refuses({"id": "a", member: value}, f"{member} = {show(value)} is invalid", expected)


def test_required_and_null_as_absent():
    refuses({}, "request: missing required member id.")
    refuses({"id": None}, "missing required member id")
    check({"id": "a", "count": None, "child": None})
    refuses({"id": "a", "child": {}}, "child: missing required member id.")
    refuses({"id": "a", "items": [None]}, "items[0] = null", "JSON string, got null")
    refuses({"id": "a", "attrs": {"k": None}}, "attrs.k = null", "JSON integer, got null")


def test_string_length_and_pattern():
    refuses({"id": ""}, 'id = "" is invalid: expected 1 to 5 characters matching ^[a-z][a-z\\d]*$.')
    refuses({"id": "abcdef"}, '"abcdef"', "1 to 5 characters")
    refuses({"id": "1a"}, '"1a"', "matching")
    refuses({"id": "a٣"}, "matching")  # Java's \d is ASCII only
    refuses({"id": "a\n"}, "matching")  # '$' does not let a trailing newline through a full match


def test_numbers():
    refuses({"id": "a", "count": 0}, "count = 0 is invalid: expected a JSON integer in [1, 10].")
    refuses({"id": "a", "count": 11}, "[1, 10]")
    refuses({"id": "a", "ratio": 1.5}, "ratio = 1.5", "a finite JSON number in [0, 1]")
    refuses({"id": "a", "count": 10**5000}, "<integer of", "[1, 10]")


def test_enum():
    refuses({"id": "a", "color": "red"}, 'color = "red" is invalid: expected one of RED, BLUE.')


def test_list_and_map_sizes():
    refuses({"id": "a", "items": []}, "items = [] is invalid: expected 1 to 3 items.")
    refuses({"id": "a", "items": ["a"] * 4}, "1 to 3 items")
    refuses({"id": "a", "items": ["a", "B"]}, 'items[1] = "B"')
    refuses({"id": "a", "attrs": {"a": 1, "b": 2, "c": 3}}, "attrs", "at most 2 entries")
    refuses({"id": "a", "attrs": {"A": 1}}, 'attrs: key "A" is invalid: expected 1 to 5 characters matching')
    refuses({"id": "a", "attrs": {"a": 0}}, "attrs.a = 0", "[1, 10]")


def test_big_list_is_refused_before_its_items():
    refuses({"id": "a", "items": [deep_list(10)] * 1_000_000}, "items", "1 to 3 items")


def test_unknown_member_lists_the_allowed():
    message = refuses({"id": "a", "colour": "RED"}, 'request: unknown member "colour"; allowed members: id, count')
    assert "color" in message and "off" in message


def test_paths_of_nested_values():
    refuses({"id": "a", "tree": {"kids": [{"kids": [{"kidz": 1}]}]}}, 'tree.kids[0].kids[0]: unknown member "kidz"')
    validate({"M": {"type": "map", "key": {"shape": "K"}, "value": {"shape": "Flag"}}, "K": {"type": "string"},
              "Flag": {"type": "boolean"}}, "M", {"ok": True})
    with pytest.raises(InvalidInputException, match=r'x\["training.bptt"\] = 1 is invalid'):
        validate({"M": {"type": "map", "key": {"shape": "K"}, "value": {"shape": "Flag"}},
                  "K": {"type": "string"}, "Flag": {"type": "boolean"}}, "M", {"training.bptt": 1}, "x")


def test_reference_narrowing():
    refuses({"id": "a", "narrow": "abc"}, 'narrow = "abc" is invalid: expected 1 to 2 characters matching',
            "(two at most)")
    refuses({"id": "a", "gone": False}, "gone = false is invalid: not here, ever.")
    refuses({"id": "a", "gone": deep_list(10_000)}, "gone = [[[", "not here, ever")
    refuses({"id": "a", "off": True}, "off = true is invalid: must stay off.")
    refuses({"id": "a", "off": 0}, "off = 0", "JSON boolean")
    check({"id": "a", "gone": None, "off": False})


def test_sensitive_values_are_not_echoed():
    message = refuses({"id": "a", "secret": "hunter2"}, "secret = <sensitive value> is invalid", "at most 3")
    assert "hunter2" not in message


def test_union():
    check({"a": True}, shape="Choice")
    refuses({"a": True, "b": False}, "exactly one of a, b; got 2", shape="Choice")
    refuses({}, "got 0", shape="Choice")


def test_blob_size_counts_decoded_bytes():
    check({"id": "a", "data": "AAECAw=="})  # 4 bytes
    refuses({"id": "a", "data": "AAECAwQ="}, "at most 4 bytes (decoded)")


@pytest.mark.parametrize("where", ["unknown", "map", "list", "refused"])
def test_deep_nesting_is_refused_not_a_traceback(where):
    value = deep_list(10_000)
    request = {"id": "a", **{"unknown": {"zzz": value}, "map": {"attrs": {"k": value}},
                             "list": {"items": [value]}, "refused": {"gone": value}}[where]}
    message = refuses(request)
    assert len(message) < 600


def test_recursive_shape_depth_is_bounded():
    tree: dict = {}
    for _ in range(10_000):
        tree = {"kids": [tree]}
    refuses({"id": "a", "tree": tree}, f"nested more than {MAX_DEPTH} levels deep")
    shallow: dict = {}
    for _ in range(MAX_DEPTH // 2 - 1):
        shallow = {"kids": [shallow]}
    check({"id": "a", "tree": shallow})


def test_bad_tables_raise_shape_error():
    with pytest.raises(ShapeError):
        validate({"X": {"type": "document"}}, "X", {})
    with pytest.raises(ShapeError):
        validate({}, "Missing", {})
    with pytest.raises(ShapeError):
        validate({"S": {"type": "string", "pattern": "\\Qa\\E"}}, "S", "a")


def test_effective_shape_applies_only_narrowing_keys():
    shape = effective_shape(SHAPES, {"shape": "Id", "max": 2, "hint": "h", "refused": "r"})
    assert shape == {**SHAPES["Id"], "max": 2}
    assert set(NARROWING) == {"min", "max", "pattern", "enum"}


def test_messages_helpers():
    assert join_path("", "name") == "name"
    assert join_path("a.b", "c") == "a.b.c"
    assert join_path("m", "training.bptt") == 'm["training.bptt"]'
    assert join_path("", 3) == "request[3]"
    assert show("x" * 1000).endswith("...") and len(show("x" * 1000)) <= 103
    assert show(deep_list(100_000)).startswith("[[[")
    assert show({"a": [1, 2.5, None, True]}) == '{"a": [1, 2.5, null, true]}'


# --- Java patterns -----------------------------------------------------------------------------------------


def test_unicode_property_classes():
    tag = compile_pattern("^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$")
    for ok in ["team", "é ü 漢字", "٣Ⅻ", "a b\u00a0c", "x\u2028", "a.b:c/d=e+f-g@h_i"]:
        assert tag.fullmatch(ok), ok
    for bad in ["a\tb", "a!b", "a\nb", "#", "😀"]:
        assert not tag.fullmatch(bad), bad
    assert compile_pattern("\\p{ASCII}{0,3}").fullmatch("a~\x00")
    assert not compile_pattern("\\p{ASCII}{0,3}").fullmatch("é")
    assert compile_pattern("\\p{Lu}+").fullmatch("ÀB") and not compile_pattern("\\p{Lu}+").fullmatch("a")
    assert compile_pattern("\\P{N}+").fullmatch("ab") and not compile_pattern("\\P{N}+").fullmatch("a1")


def test_java_dot_and_ascii_escapes():
    arn = compile_pattern("arn:([a-z\\d-]+):personalize:.*:.*:.+")
    assert arn.fullmatch("arn:aws:personalize:::recipe/aws-hrnn")
    for terminator in "\n\r\x85\u2028\u2029":
        assert not arn.fullmatch(f"arn:aws:personalize:::recipe{terminator}x")
    assert not arn.fullmatch("arn:aw٣:personalize:::x")
    assert compile_pattern("\\w+\\s\\W").fullmatch("a_1 !") and not compile_pattern("\\w").fullmatch("é")


@pytest.mark.parametrize("pattern", ["\\p{Greek}", "\\p{IsAlphabetic}", "[a[b]]", "[a&&b]", "\\Qx\\E", "\\z",
                                     "[\\P{L}]", "\\1", "a\\"])
def test_untranslatable_patterns_are_refused(pattern):
    with pytest.raises(ShapeError):
        compile_pattern(pattern)


def test_every_personalize_pattern_translates():
    patterns = {shape["pattern"] for shape in service_shapes().values() if "pattern" in shape}
    assert patterns
    for pattern in patterns:
        compile_pattern(pattern)


def test_validator_serves_other_operations():
    """The same walker checks any personalize operation straight from botocore's model."""
    shapes = service_shapes()
    validate(shapes, "CreateCampaignRequest", {"name": "c", "solutionVersionArn": "arn:aws:personalize:r:1:sv/x",
                                               "minProvisionedTPS": 1})
    with pytest.raises(InvalidInputException, match="minProvisionedTPS = 0 is invalid: expected a JSON integer >= 1"):
        validate(shapes, "CreateCampaignRequest", {"name": "c", "solutionVersionArn": "arn:aws:personalize:r:1:x",
                                                   "minProvisionedTPS": 0})
    with pytest.raises(InvalidInputException, match="missing required member solutionVersionArn"):
        validate(shapes, "CreateCampaignRequest", {"name": "c"})


# --- the CreateSolution table against botocore --------------------------------------------------------------

CONSTRAINTS = ("type", "min", "max", "pattern", "enum")
REF_KEYS = {"shape", "documentation", "box", "sensitive", "min", "max", "pattern", "enum", "refused", "const",
            "reason", "hint"}
OVERLAY_KEYS = REF_KEYS | {"required", "why"}


def botocore_shapes() -> dict:
    """A fresh copy of the installed model, independent of the cached one the table was built from."""
    return Loader().load_service_model("personalize", "service-2")["shapes"]


def references(shapes: dict, root: str):
    """Every (address, parent shape name, member reference) reachable from ``root``, once each."""
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        if shape["type"] == "structure":
            refs = shape["members"].items()
        else:
            refs = [(k, shape[k]) for k in ("member", "key", "value") if k in shape]
        for member, ref in refs:
            yield f"{name}.{member}", name, ref
            todo.append(ref["shape"])


def test_every_botocore_member_is_known_to_the_table():
    boto, ours = botocore_shapes(), table()
    addresses = set()
    for address, parent, ref in references(boto, REQUEST_SHAPE):
        addresses.add(address)
        shape_name, _, member = address.partition(".")
        mine = ours[parent]["members"][member] if ours[parent]["type"] == "structure" else ours[parent][member]
        assert mine["shape"] == ref["shape"], address
        if "refused" in mine:
            assert isinstance(mine["refused"], str) and len(mine["refused"]) > 10, address
    # ...and the table knows no member botocore does not have
    assert {a for a, _, _ in references(ours, REQUEST_SHAPE)} == addresses


def test_limits_are_botocores_unless_the_overlay_says_otherwise():
    boto, ours = botocore_shapes(), table()
    for address, parent, ref in references(boto, REQUEST_SHAPE):
        member = address.partition(".")[2]
        entry = OVERLAY.get(address, {})
        mine = ours[parent]["members"][member] if ours[parent]["type"] == "structure" else ours[parent][member]
        theirs_shape, mine_shape = effective_shape(boto, ref), effective_shape(ours, mine)
        for key in CONSTRAINTS:
            expected = entry[key] if key in entry else theirs_shape.get(key)
            assert mine_shape.get(key) == expected, (address, key)
        if ours[parent]["type"] == "structure":
            required = entry.get("required", member in boto[parent].get("required", ()))
            assert (member in ours[parent].get("required", ())) == required, address


def test_overlay_names_real_members_and_says_why():
    boto = botocore_shapes()
    for address, entry in OVERLAY.items():
        shape_name, _, member = address.partition(".")
        shape = boto[shape_name]
        assert member in (shape["members"] if shape["type"] == "structure" else shape), address
        assert set(entry) <= OVERLAY_KEYS, address
        assert entry.get("why") or entry.get("refused") or entry.get("reason"), address
        assert ("const" in entry) == ("reason" in entry), address


def test_refusals_are_the_documented_ones():
    refused = {a for a, e in OVERLAY.items() if "refused" in e}
    assert refused == {"SolutionConfig.optimizationObjective", "SolutionConfig.eventsConfig",
                       "SolutionConfig.trainingDataConfig", "SolutionConfig.autoTrainingConfig"}
    constants = {a: e["const"] for a, e in OVERLAY.items() if "const" in e}
    assert constants == {"CreateSolutionRequest.performIncrementalUpdate": False,
                         "CreateSolutionRequest.performAutoTraining": False}


def test_automl_table_only_lifts_solution_config_refusals():
    plain, automl = table(), table(automl=True)
    for name in plain:
        if name != AUTOML_LIFTS_REFUSALS_IN:
            assert automl[name] == plain[name], name
    lifted = {m: {k: v for k, v in ref.items() if k != "refused"}
              for m, ref in plain[AUTOML_LIFTS_REFUSALS_IN]["members"].items()}
    assert automl[AUTOML_LIFTS_REFUSALS_IN]["members"] == lifted


def test_botocore_model_is_left_untouched():
    before = json.dumps(botocore_shapes(), sort_keys=True)
    merged_table.cache_clear()
    table()
    table(automl=True)
    assert json.dumps(service_shapes(), sort_keys=True) == before
    assert copy.deepcopy(service_shapes()) == botocore_shapes()

"""The layers and sizes the code promises: hrnn/ (the library) imports nothing from tuning/ (the service),
modules stay small, and no function grows past a screenful."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def _imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_library_imports_nothing_from_the_service_layer():
    offenders = {}
    for path in _modules("hrnn"):
        imported = _imported_modules(ast.parse(path.read_text()))
        bad = sorted(name for name in imported if name == "tuning" or name.startswith("tuning."))
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders, f"hrnn/ must not import tuning/: {offenders}"


def test_modules_and_functions_stay_small():
    too_long = []
    for path in _modules("hrnn", "tuning"):
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, "split these: " + "; ".join(too_long)


def test_file_names_are_spelled_once_records_by_the_store_artifacts_by_the_workspace():
    owners = {'"describe.json"': "tuning/store.py", '"solution.json"': "tuning/store.py",
              '"metrics.json"': "tuning/workspace.py", '"trials.json"': "tuning/workspace.py",
              '"trials.csv"': "tuning/workspace.py", '"report.html"': "tuning/workspace.py"}
    spelled: dict[str, set[str]] = {}
    for path in _modules("hrnn", "tuning"):
        for name in owners:
            if name in path.read_text():
                spelled.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    assert spelled == {name: {owner} for name, owner in owners.items()}, spelled

"""The layers the code promises: hrnn/ (the library) imports nothing from tuning/ (the service) and reads no
environment (the service reads it at its edge into the settings), and only the workspace spells a solution
version's file names. (Module and function sizes are guidance in the README's contributor notes.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def _reads_environment(tree: ast.AST) -> bool:
    """``os.environ``, ``os.getenv``, ``os.environb`` or such a name imported from os."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "environb", "getenv", "getenvb"):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                a.name in ("environ", "environb", "getenv", "getenvb") for a in node.names):
            return True
    return False


def test_at_most_one_module_of_the_library_reads_the_environment():
    readers = [str(p.relative_to(ROOT)) for p in _modules("hrnn") if _reads_environment(ast.parse(p.read_text()))]
    assert len(readers) <= 1, f"the library's settings come from its callers; these read the environment: {readers}"
    assert _reads_environment(ast.parse("import os\nos.environ.get('X')"))  # the check itself sees a reader
    assert _reads_environment(ast.parse("from os import getenv"))
    assert not _reads_environment(ast.parse("import os\nos.path.join('a')"))


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

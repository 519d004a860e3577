"""The README's tables follow the code: the hyperparameter table is generated from the recipe declaration,
and the layout table under *What you get* names every module of the library, and nothing that is not there."""

import re
from pathlib import Path

import pytest

from hrnn.recipe import markdown_table

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_readme_table_matches_the_recipe_declaration():
    assert markdown_table() in README.read_text(), "regenerate the table: python -c 'from hrnn.recipe import markdown_table; print(markdown_table())'"


def layout_paths(layer: str, text: str) -> tuple[set[str], set[str]]:
    """(files, folders) the layout table lists for ``layer``: in a row's last cell, `` `dir/` `` names a folder
    and the bare names after it (`` `file.py` ``) files in it; a folder whose files are named is not listed
    whole."""
    section = text.split("## What you get", 1)[1].split("\n## ", 1)[0]
    files, folders = set(), set()
    for line in section.splitlines():
        if not line.startswith(f"| {layer} |"):
            continue
        folder, named = None, False
        for token in re.findall(r"`([^`]+)`", line.rstrip(" |").rsplit("|", 1)[1]):
            if token.endswith("/"):
                if folder and not named:
                    folders.add(folder)
                folder, named = token, False
            elif "/" in token:
                files.add(token)
            elif folder:
                files.add(folder + token)
                named = True
        if folder and not named:
            folders.add(folder)
    return files, folders


@pytest.mark.parametrize("layer,package", [("library", "hrnn")])
def test_the_layout_table_matches_the_tree(layer, package):
    files, folders = layout_paths(layer, README.read_text())
    assert files, f"no {layer} rows in the README's layout table"
    missing = sorted(p for p in files | folders if not (ROOT / p).exists())
    assert not missing, f"the README's layout table names paths that do not exist: {missing}"
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")}
    unlisted = sorted(m for m in modules if m not in files and not any(m.startswith(f) for f in folders))
    assert not unlisted, f"the README's layout table does not name: {unlisted}"


def test_the_layout_check_reads_folders_and_their_files():
    text = ("## What you get\n| library | x | `a/b.py`, `c/` (`d.py`, `e.py`) |\n| library | y | `f/` |\n"
            "| service | z | `g.py` |\n## Next\n| library | w | `h.py` |\n")
    assert layout_paths("library", text) == ({"a/b.py", "c/d.py", "c/e.py"}, {"f/"})

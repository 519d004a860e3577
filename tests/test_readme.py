"""The README's hyperparameter table is generated from the recipe declaration; keep them in sync."""

from pathlib import Path

from hrnn.recipe import markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_table_matches_the_recipe_declaration():
    assert markdown_table() in README.read_text(), "regenerate the table: python -c 'from hrnn.recipe import markdown_table; print(markdown_table())'"

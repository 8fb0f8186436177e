"""The README's results block is what scripts/results_table.py prints from the committed
metrics: a figure in it that no metrics file of the same commit backs fails here."""

from conftest import REPO, load_script


def test_readme_results_match_the_committed_metrics():
    table = load_script("results_table")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split(table.START, 1)[1].split(table.END, 1)[0]
    assert block.strip() == table.render().strip(), "run: python scripts/results_table.py --write"


def test_readme_keeps_the_two_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/setup.sh && source .venv/bin/activate && dvc repro" in readme
    assert "bash scripts/setup.sh && .venv/bin/python -m pytest" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/setup.sh" in ci and ".venv/bin/python -m pytest" in ci

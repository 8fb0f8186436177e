"""The README's results block is what scripts/results_table.py prints from the metrics committed
at HEAD: a figure in it that no metrics file of that commit backs fails here. HEAD's, not the
workspace's: after `dvc repro` on another machine (README command one) the workspace holds that
machine's figures, and the README still describes the committed run (README command two passes)."""

import subprocess

import pytest
from conftest import REPO, load_script


def _in_git():
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True).returncode == 0


def test_readme_results_match_the_metrics_committed_at_head():
    table = load_script("results_table")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split(table.START, 1)[1].split(table.END, 1)[0]
    rev = "HEAD" if _in_git() else None  # an exported tree has only its workspace metrics
    assert block.strip() == table.render(rev).strip(), "run: python scripts/results_table.py --write"


def test_the_block_follows_the_committed_metrics_not_the_workspace(tmp_path, monkeypatch):
    """A rerun elsewhere rewrites metrics/ in the workspace: the rendering from HEAD must not move."""
    if not _in_git():
        pytest.skip("not a git checkout")
    table = load_script("results_table")
    committed = table.render("HEAD")
    monkeypatch.setattr(table, "METRICS", tmp_path)  # the workspace's metrics: gone
    assert table.render("HEAD") == committed
    with pytest.raises(KeyError):
        table.render()


def test_readme_keeps_the_two_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/setup.sh && source .venv/bin/activate && dvc repro" in readme
    assert "bash scripts/setup.sh && .venv/bin/python -m pytest" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/setup.sh" in ci and ".venv/bin/python -m pytest" in ci


def test_the_benchmark_defaults_the_readme_states_are_the_schemas():
    from bert_int8.params import BenchmarkParams

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    defaults = BenchmarkParams()
    assert f"`benchmark.repeats` passes (default {defaults.repeats}, in all)" in readme
    assert f"`benchmark.processes` processes per model (default {defaults.processes})" in readme
    assert f"(default {defaults.disturbed_share:.0%})" in readme
    assert f"`benchmark.min_pass_seconds` (default {defaults.min_pass_seconds} s;" in readme
